/**
 * `eventRows`: a batch of stream entries turned into rows of a stream feature view — through
 * the view's transform when it has one — and the entries that cannot be rows, each with the
 * reason it goes to the dead-letter stream. A bad event never fails the batch.
 */
import {
  type FeatureViewSpec,
  type FileSourceSpec,
  isLarderError,
  type StreamSourceSpec,
  type ValueType,
} from "../../registry/mod.ts";
import {
  coerceValue,
  encodeValue,
  entityKey,
  INVALID,
  type JoinKey,
  notOfType,
  type OnlineRow,
  type StoredValue,
} from "../online/mod.ts";
import { runTransform } from "../on_demand.ts";
import type { DeadLetter, StreamEntry } from "./broker.ts";

/** Columns of rows, named as `writeOnline` and `pushOffline` read them. */
export type RowColumns = Record<string, unknown[]>;

/** What a stream feature view's processor needs to know of it. */
export interface StreamViewPlan {
  readonly view: FeatureViewSpec;
  readonly source: StreamSourceSpec;
  /** Where the rows go offline; its timestamp column names the rows' event time. */
  readonly batch: FileSourceSpec;
  readonly joinKeys: readonly JoinKey[];
  /** The view's transform (checked against the registry's hash), if it has one. */
  readonly transform?:
    | ((events: Readonly<Record<string, readonly unknown[]>>) => Record<string, readonly unknown[]>)
    | undefined;
}

/** The rows of a batch, one per kept entry, and the dead letters. */
export interface EventRows {
  /** The entries that became rows, in row order. */
  readonly entries: StreamEntry[];
  readonly columns: RowColumns;
  /**
   * The same rows as the online store takes them (keyed, timestamped, encoded), built from
   * the values checked once for both: what `toOnlineRows` would make of `columns`.
   */
  readonly online: OnlineRow[];
  readonly dead: DeadLetter[];
}

interface Field {
  readonly name: string;
  readonly type: ValueType;
  readonly role: "key" | "timestamp" | "feature";
}

function fieldsOf(plan: StreamViewPlan): Field[] {
  return [
    ...plan.joinKeys.map((k) => ({ name: k.name, type: k.type, role: "key" as const })),
    { name: plan.source.timestampField, type: "timestamp", role: "timestamp" },
    ...plan.view.features.map((f) => ({ name: f.name, type: f.type, role: "feature" as const })),
  ];
}

/** Why a value cannot be a row's. */
class Refusal {
  constructor(readonly reason: string) {}
}

/** The typed value of `field` in `raw`, or why it cannot be one. */
function typed(field: Field, raw: unknown): unknown {
  if (raw === null || raw === undefined || (raw === "" && field.type !== "string")) {
    if (field.role === "feature") return null;
    return new Refusal(
      field.role === "key"
        ? `missing join key "${field.name}"`
        : `missing event timestamp "${field.name}"`,
    );
  }
  const value = coerceValue(raw, field.type);
  return value === INVALID
    ? new Refusal(`field "${field.name}": ${notOfType(raw, field.type)}`)
    : value;
}

/** Rows from values per field (`get(field, i)`), checking each entry on its own. */
function checkedRows(
  plan: StreamViewPlan,
  entries: readonly StreamEntry[],
  get: (field: Field, i: number) => unknown,
): EventRows {
  const fields = fieldsOf(plan);
  const out = fields.map(() => [] as unknown[]);
  const kept: StreamEntry[] = [];
  const online: OnlineRow[] = [];
  const dead: DeadLetter[] = [];
  const values = new Array<unknown>(fields.length);
  // Fields are keys, then the timestamp, then the features (see fieldsOf).
  const keyCount = plan.joinKeys.length;
  const keyValues = new Array<unknown>(keyCount);
  entries: for (let i = 0; i < entries.length; i++) {
    for (let c = 0; c < fields.length; c++) {
      const value = typed(fields[c]!, get(fields[c]!, i));
      if (value instanceof Refusal) {
        dead.push({ entry: entries[i]!, view: plan.view.name, reason: value.reason });
        continue entries;
      }
      values[c] = value;
    }
    const stored: Record<string, StoredValue> = {};
    for (let c = 0; c < fields.length; c++) {
      const field = fields[c]!;
      out[c]!.push(values[c]);
      if (c < keyCount) keyValues[c] = values[c];
      else if (c > keyCount) stored[field.name] = encodeValue(values[c], field.type);
    }
    online.push({
      entityKey: entityKey(plan.joinKeys, keyValues),
      record: {
        eventMicros: (values[keyCount] as Date).getTime() * 1000,
        createdMicros: null,
        values: stored,
      },
    });
    kept.push(entries[i]!);
  }
  const columns: RowColumns = {};
  fields.forEach((f, c) => {
    columns[f.role === "timestamp" ? plan.batch.timestampField : f.name] = out[c]!;
  });
  return { entries: kept, columns, online, dead };
}

/** Event columns of `entries`: every field any of them has, `null` where one lacks it. */
function eventColumns(entries: readonly StreamEntry[]): Record<string, unknown[]> {
  const names = new Set<string>();
  for (const e of entries) for (const name of Object.keys(e.event!)) names.add(name);
  // No prototype: an event field may be called "__proto__".
  const columns: Record<string, unknown[]> = Object.create(null);
  for (const name of names) {
    columns[name] = entries.map((e) => Object.hasOwn(e.event!, name) ? e.event![name] : null);
  }
  return columns;
}

type Transformed = { output: Record<string, readonly unknown[]> } | { reason: string };

function transformBatch(plan: StreamViewPlan, entries: readonly StreamEntry[]): Transformed {
  const inputs = eventColumns(entries);
  let raw: Record<string, readonly unknown[]>;
  try {
    raw = plan.transform!(inputs);
  } catch (err) {
    return {
      reason: `the transform of stream feature view "${plan.view.name}" threw: ${
        (err as Error)?.message ?? String(err)
      }`,
    };
  }
  try {
    // The checks on-demand transforms get: an object of columns, one value per row, each
    // null or of its feature's type.
    const features = runTransform(
      { name: plan.view.name, features: plan.view.features, transform: () => raw },
      inputs,
      entries.length,
    );
    for (const name of [...plan.joinKeys.map((k) => k.name), plan.source.timestampField]) {
      const column = raw[name];
      if (!Array.isArray(column) || column.length !== entries.length) {
        return {
          reason: `the transform of stream feature view "${plan.view.name}" returned ${
            Array.isArray(column) ? `${column.length} values in column` : "no column"
          } "${name}" for ${entries.length} events`,
        };
      }
    }
    return { output: { ...raw, ...features } };
  } catch (err) {
    if (!isLarderError(err)) throw err;
    return {
      reason: err.message.replace(
        /^On-demand feature view "[^"]*": /,
        (m) => `the transform of stream feature view ${m.slice("On-demand feature view ".length)}`,
      ),
    };
  }
}

/**
 * The rows of `entries` for `plan`'s view. Without a transform each event is a row (fields
 * named as the join keys, the source's timestamp field and the features; values read as their
 * declared types). With one, the batch goes through it; when it throws or returns a bad
 * column, each event goes through it alone, so that only the events it fails on are dead.
 * Rows name their event time after the batch source's timestamp column.
 */
export function eventRows(plan: StreamViewPlan, entries: readonly StreamEntry[]): EventRows {
  const undecoded: DeadLetter[] = [];
  const decoded: StreamEntry[] = [];
  for (const e of entries) {
    if (e.event === undefined) {
      undecoded.push({ entry: e, view: plan.view.name, reason: e.problem ?? "undecodable" });
    } else decoded.push(e);
  }
  if (plan.transform === undefined) {
    const rows = checkedRows(plan, decoded, (f, i) => decoded[i]!.event![f.name]);
    return { ...rows, dead: [...undecoded, ...rows.dead] };
  }
  const p = plan;
  const whole = decoded.length === 0 ? { output: {} } : transformBatch(p, decoded);
  if ("output" in whole) {
    const out = whole.output;
    const rows = checkedRows(p, decoded, (f, i) => out[f.name]?.[i]);
    return { ...rows, dead: [...undecoded, ...rows.dead] };
  }
  // One event at a time: the transform failed on some of them.
  const ok: StreamEntry[] = [];
  const outputs: Record<string, readonly unknown[]>[] = [];
  const dead = [...undecoded];
  for (const e of decoded) {
    const one = transformBatch(p, [e]);
    if ("reason" in one) dead.push({ entry: e, view: plan.view.name, reason: one.reason });
    else {
      ok.push(e);
      outputs.push(one.output);
    }
  }
  const rows = checkedRows(p, ok, (f, i) => outputs[i]![f.name]?.[0]);
  return { ...rows, dead: [...dead, ...rows.dead] };
}
