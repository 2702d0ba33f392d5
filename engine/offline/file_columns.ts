/** `fileColumns`: a data file's columns as stored, for writing new files that match it. */
import { type DataType, Type } from "apache-arrow";
import { LarderError, type ScalarType, type ValueType } from "../../registry/mod.ts";
import { readCsvHeader } from "./_csv.ts";
import { readParquetSchema } from "./parquet.ts";
import { localCopy } from "./source_files.ts";
import { isObjectUrl } from "../object_store/mod.ts";

/** A column of a data file. */
export interface FileColumn {
  readonly name: string;
  /**
   * The Larder type that stores the column's values exactly as the file does; `undefined` for
   * CSV text and for Parquet types Larder does not write (int8, uint32, decimal, date, struct…).
   */
  readonly type: ValueType | undefined;
}

function scalarOf(type: DataType): ScalarType | undefined {
  switch (type.typeId) {
    case Type.Int: {
      const { bitWidth, isSigned } = type as DataType<Type.Int> & {
        bitWidth: number;
        isSigned: boolean;
      };
      if (!isSigned) return undefined;
      return bitWidth === 32 ? "int32" : bitWidth === 64 ? "int64" : undefined;
    }
    case Type.Float: {
      const { precision } = type as DataType<Type.Float> & { precision: number };
      return precision === 1 ? "float32" : precision === 2 ? "float64" : undefined;
    }
    case Type.Utf8:
    case Type.LargeUtf8:
      return "string";
    case Type.Bool:
      return "bool";
    case Type.Binary:
    case Type.LargeBinary:
      return "bytes";
    case Type.Timestamp:
      return "timestamp";
    case Type.Dictionary: {
      const values = (type as DataType<Type.Dictionary> & { dictionary: DataType }).dictionary;
      return values.typeId === Type.Utf8 || values.typeId === Type.LargeUtf8 ? "string" : undefined;
    }
    default:
      return undefined;
  }
}

/** The Larder type of an Arrow type when Larder writes it as is, else `undefined`. */
export function exactValueType(type: DataType): ValueType | undefined {
  if (type.typeId === Type.List) {
    const child = (type as DataType<Type.List> & { children: { type: DataType }[] }).children[0];
    const scalar = child ? scalarOf(child.type) : undefined;
    return scalar === undefined ? undefined : `${scalar}[]`;
  }
  return scalarOf(type);
}

/**
 * The columns of a `.parquet` file (from its footer) or a `.csv` file (its header), in file
 * order. An unreadable file is `SOURCE_INVALID` naming it.
 */
export async function fileColumns(
  path: string,
  format: "parquet" | "csv",
): Promise<FileColumn[]> {
  if (format === "csv") {
    const header = await readCsvHeader(
      isObjectUrl(path) ? await localCopy(path) : path,
      (detail) => new LarderError("SOURCE_INVALID", `File "${path}": ${detail}`),
    );
    return header.map((name) => ({ name, type: undefined }));
  }
  const schema = await readParquetSchema(path);
  return schema.fields.map((f) => ({ name: f.name, type: exactValueType(f.type) }));
}
