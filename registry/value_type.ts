/** Feature and entity value types, and the TypeScript values they carry. */
import { z } from "zod";

/** Scalar value types. */
export const SCALAR_TYPES = [
  "int32",
  "int64",
  "float32",
  "float64",
  "string",
  "bool",
  "bytes",
  "timestamp",
] as const;

/** A scalar value type such as `"float32"`. */
export type ScalarType = typeof SCALAR_TYPES[number];

/** A value type: a scalar or an array of one (`"float32[]"`). */
export type ValueType = ScalarType | `${ScalarType}[]`;

const ALL_TYPES = [...SCALAR_TYPES, ...SCALAR_TYPES.map((t) => `${t}[]` as const)] as [
  ValueType,
  ...ValueType[],
];

/** Schema of a value type. */
export const ValueTypeSchema: z.ZodType<ValueType, ValueType> = z.enum(ALL_TYPES);

/** Schema of a scalar value type (join keys are scalars). */
export const ScalarTypeSchema: z.ZodType<ScalarType, ScalarType> = z.enum(SCALAR_TYPES);

/** Whether `type` is an array type, and its element type. */
export function elementType(type: ValueType): { array: boolean; element: ScalarType } {
  return type.endsWith("[]")
    ? { array: true, element: type.slice(0, -2) as ScalarType }
    : { array: false, element: type as ScalarType };
}

/** The TypeScript value of a scalar type. */
export type ScalarValue<T extends ScalarType> = T extends "int32" | "int64" | "float32" | "float64"
  ? number
  : T extends "string" ? string
  : T extends "bool" ? boolean
  : T extends "bytes" ? Uint8Array
  : T extends "timestamp" ? Date
  : never;

/** The TypeScript value of a value type (features may always be null). */
export type ValueOf<T extends ValueType> = T extends `${infer S extends ScalarType}[]`
  ? ScalarValue<S>[]
  : T extends ScalarType ? ScalarValue<T>
  : never;
