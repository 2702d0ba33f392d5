/**
 * Runs on-demand transforms over a batch of columns: the one code path that online and
 * historical retrieval share, so both give the same values, nulls included.
 */
import {
  elementType,
  LarderError,
  ownValue,
  type RegistryDocument,
  type ScalarType,
  type ValueType,
} from "../registry/mod.ts";
import { coerceValue, describeValue, INVALID, invalidReason } from "./online/value_codec.ts";

/** What a transform needs at run time. */
export interface LoadedTransform {
  /** The on-demand feature view's name. */
  readonly name: string;
  /** Output features in declaration order. */
  readonly features: readonly { readonly name: string; readonly type: ValueType }[];
  /** The transform: input columns in, output columns out. */
  readonly transform: (
    columns: Record<string, readonly unknown[]>,
  ) => Record<string, readonly unknown[]>;
}

/**
 * Loads the transforms of on-demand views by name, checked against `doc` — the registry
 * document the caller resolved its request with, so loading never waits for a registry read.
 */
export type TransformLoader = (
  names: readonly string[],
  doc: RegistryDocument,
) => Promise<ReadonlyMap<string, LoadedTransform>>;

/**
 * The values of request field `name` read as its declared `type`, by the rule online reads and
 * historical retrieval share (numeric text is a number, an integer a float, ISO text a
 * timestamp...). Throws `INPUT_INVALID` naming the field and the row (`firstRow` + index) of a
 * value that cannot be read as the type.
 */
export function requestValues(
  field: { readonly name: string; readonly type: ValueType },
  raw: readonly unknown[],
  firstRow = 0,
): unknown[] {
  const values = new Array<unknown>(raw.length);
  for (let r = 0; r < raw.length; r++) {
    const v = coerceValue(raw[r], field.type);
    if (v === INVALID) {
      const row = firstRow + r;
      const reason = invalidReason(raw[r], field.type);
      throw new LarderError(
        "INPUT_INVALID",
        `Request field "${field.name}" row ${row}: expected ${field.type}, got ${
          describeValue(raw[r])
        }${reason ? `: ${reason}` : ""}`,
        { details: { field: field.name, row } },
      );
    }
    values[r] = v;
  }
  return values;
}

const INT_RANGE: Partial<Record<ScalarType, [number, number]>> = {
  int32: [-2147483648, 2147483647],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};

function scalarOk(value: unknown, type: ScalarType): boolean {
  switch (type) {
    case "int32":
    case "int64": {
      if (typeof value === "bigint") return type === "int64";
      const [lo, hi] = INT_RANGE[type]!;
      return typeof value === "number" && Number.isInteger(value) && value >= lo && value <= hi;
    }
    case "float32":
    case "float64":
      return typeof value === "number";
    case "string":
      return typeof value === "string";
    case "bool":
      return typeof value === "boolean";
    case "bytes":
      return value instanceof Uint8Array;
    case "timestamp":
      return value instanceof Date && !Number.isNaN(value.getTime());
  }
}

/** Whether `value` (not null) fits `type`. */
export function valueFits(value: unknown, type: ValueType): boolean {
  const { array, element } = elementType(type);
  if (!array) return scalarOk(value, element);
  return Array.isArray(value) && value.every((v) => v === null || scalarOk(v, element));
}

function describe(value: unknown): string {
  if (typeof value === "string") {
    return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  }
  if (typeof value === "bigint") return `${value}n`;
  if (value instanceof Date) return `Date(${value.toISOString?.() ?? "invalid"})`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  if (value === undefined) return "undefined";
  if (value === null) return "null";
  return typeof value === "object" ? "an object" : String(value);
}

/**
 * Runs `view`'s transform over `rows` rows of `inputs` and checks what it returns:
 * every declared feature present, one value per row, each value null or of its type.
 * Throws a `DEFINITION_INVALID` error naming the view otherwise.
 */
export function runTransform(
  view: LoadedTransform,
  inputs: Record<string, readonly unknown[]>,
  rows: number,
): Record<string, unknown[]> {
  let output: Record<string, readonly unknown[]>;
  try {
    output = view.transform(inputs);
  } catch (cause) {
    throw new LarderError(
      "DEFINITION_INVALID",
      `On-demand feature view "${view.name}": the transform threw: ${
        (cause as Error)?.message ?? cause
      }`,
      { cause, details: { view: view.name } },
    );
  }
  if (output === null || typeof output !== "object") {
    throw new LarderError(
      "DEFINITION_INVALID",
      `On-demand feature view "${view.name}": the transform must return an object of columns, got ${
        describe(output)
      }`,
      { details: { view: view.name } },
    );
  }
  const result: Record<string, unknown[]> = {};
  for (const { name, type } of view.features) {
    const column = ownValue(output, name);
    if (!Array.isArray(column) && !ArrayBuffer.isView(column)) {
      throw new LarderError(
        "DEFINITION_INVALID",
        `On-demand feature view "${view.name}": the transform returned no column "${name}"`,
        { details: { view: view.name, feature: name } },
      );
    }
    const values = Array.from(column as ArrayLike<unknown>);
    if (values.length !== rows) {
      throw new LarderError(
        "DEFINITION_INVALID",
        `On-demand feature view "${view.name}": column "${name}" has ${values.length} values for ${rows} rows`,
        { details: { view: view.name, feature: name, expected: rows, actual: values.length } },
      );
    }
    for (let i = 0; i < rows; i++) {
      let v = values[i];
      if (v === undefined || (typeof v === "number" && Number.isNaN(v))) v = values[i] = null;
      if (v !== null && !valueFits(v, type)) {
        throw new LarderError(
          "DEFINITION_INVALID",
          `On-demand feature view "${view.name}": column "${name}" row ${i}: expected ${type}, got ${
            describe(v)
          }`,
          { details: { view: view.name, feature: name, row: i } },
        );
      }
    }
    result[name] = values;
  }
  return result;
}
