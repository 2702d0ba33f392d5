/**
 * The columns of a feature-log part, gathered from the reads as served into Arrow buffers
 * (`_log_buffers.ts`), in the log schema's order.
 */
import type { ValueType } from "../../registry/mod.ts";
import type { OnlineColumn } from "../online/online_response.ts";
import { coerceValue, INVALID, timestampMicros } from "../online/value_codec.ts";
import {
  type FeatureLogSchema,
  LOG_DATE_COLUMN,
  LOG_TIMESTAMP_COLUMN,
  REQUEST_ID_COLUMN,
  STATUS_CODES,
} from "./log_schema.ts";
import { ColumnWriter, type LogBuffer } from "./_log_buffers.ts";

/** One read waiting in the queue: what it served, when, for which request. */
export interface Served {
  readonly columns: ReadonlyMap<string, OnlineColumn>;
  readonly entities: Readonly<Record<string, readonly unknown[]>>;
  readonly rows: number;
  readonly logMicros: number;
  readonly requestId: string;
  readonly fullFeatureNames: boolean;
}

/** `YYYY-MM-DD` (UTC) of epoch microseconds. */
export function utcDate(micros: number): string {
  return new Date(Math.floor(micros / 1000)).toISOString().slice(0, 10);
}

/** A value as the encoder takes it: timestamps as epoch microseconds. */
function cell(value: unknown, type: ValueType): unknown {
  if (value === null || value === undefined) return null;
  if (type !== "timestamp") return value;
  const micros = timestampMicros(value);
  return micros === null || Number.isNaN(micros) ? null : micros;
}

/** A request field's value as its type reads it (`null` where it cannot). */
function typed(value: unknown, type: ValueType): unknown {
  const v = coerceValue(value, type);
  return v === INVALID ? null : cell(v, type);
}

/**
 * The log's columns for these reads as buffers, in schema order, a group at a time (a key, or a
 * feature's three columns), so that the caller can let requests run between groups.
 */
export function* logBuffers(
  schema: FeatureLogSchema,
  served: readonly Served[],
): Generator<LogBuffer[]> {
  const total = served.reduce((n, s) => n + s.rows, 0);
  for (const key of schema.keys) {
    const out = new ColumnWriter(key.name, key.type, total);
    for (const s of served) {
      const echoed = s.columns.get(key.name)?.values;
      const raw = s.entities[key.name];
      for (let r = 0; r < s.rows; r++) {
        if (echoed) out.push(cell(echoed[r], key.type));
        else out.push(raw === undefined ? null : typed(raw[r], key.type));
      }
    }
    yield [out.finish()];
  }
  for (const f of schema.features) {
    const isTime = f.type === "timestamp";
    const values = new ColumnWriter(f.column, f.type, total);
    const times = new ColumnWriter(`${f.column}__timestamp`, "timestamp", total);
    const statuses = new ColumnWriter(`${f.column}__status`, "int32", total);
    for (const s of served) {
      const name = s.fullFeatureNames ? f.fullOutput : f.output;
      const column = name === undefined ? undefined : s.columns.get(name);
      for (let r = 0; r < s.rows; r++) {
        if (!column) {
          values.push(null);
          times.push(null);
          statuses.push(null);
          continue;
        }
        values.push(isTime ? cell(column.values[r], f.type) : column.values[r]);
        times.push(column.eventMicros[r]);
        const status = column.statuses[r];
        statuses.push(status === undefined ? null : STATUS_CODES[status]);
      }
    }
    yield [values.finish(), times.finish(), statuses.finish()];
  }
  const logTimes = new ColumnWriter(LOG_TIMESTAMP_COLUMN, "timestamp", total);
  const dates = new ColumnWriter(LOG_DATE_COLUMN, "string", total);
  const ids = new ColumnWriter(REQUEST_ID_COLUMN, "string", total);
  for (const s of served) {
    const date = utcDate(s.logMicros);
    for (let r = 0; r < s.rows; r++) {
      logTimes.push(s.logMicros);
      dates.push(date);
      ids.push(s.requestId);
    }
  }
  yield [logTimes.finish(), dates.finish(), ids.finish()];
}
