/**
 * Where records of a CSV file are, in lines as an editor counts them. DuckDB's reader numbers
 * lines without the line breaks inside quoted values, and numbers no line when Larder finds a
 * bad value (its SQL sees rows, not lines), so the lines in messages come from here: the file
 * is scanned again, only when a read has failed, split into records as DuckDB splits them with
 * Larder's dialect (`_csv.ts`).
 */
import { fileSystemFailure } from "../../registry/mod.ts";

/** A record of a CSV file, as the scan meets it. */
export interface CsvRecord {
  /** 0-based among the data records (the header is not counted). */
  readonly index: number;
  /** The 1-based line the record starts on (the header starts on line 1). */
  readonly line: number;
  readonly fields: number;
  /** The file ends inside a quoted value of this record. */
  readonly unclosed: boolean;
}

/**
 * Calls `visit` for each data record of `path` in order, until it returns `true`; returns the
 * record it stopped at, or `undefined` at the end of the file. Line breaks are `\n`, `\r\n` or
 * a lone `\r`, inside quoted values too. An empty line is no record when the header has more
 * than one field (DuckDB skips it), and a record of one empty field when it has one.
 */
export async function findCsvRecord(
  path: string,
  visit: (record: CsvRecord, header: { readonly fields: number }) => boolean,
): Promise<CsvRecord | undefined> {
  const file = await Deno.open(path, { read: true }).catch((err) => {
    throw fileSystemFailure(err, { path, action: "read" }) ?? err;
  });
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(256 * 1024);
  let line = 1;
  let start = 1;
  let index = -1; // the header
  let columns = 0;
  let fields = 1;
  let empty = true;
  let quoted = false;
  let afterCR = false;
  /** Ends the current record; the record that stops the scan, if any. */
  const end = (unclosed: boolean): CsvRecord | undefined => {
    let found: CsvRecord | undefined;
    if (index < 0) {
      columns = fields;
      index = 0;
    } else if (!(empty && columns > 1)) {
      const record = { index, line: start, fields, unclosed };
      if (visit(record, { fields: columns })) found = record;
      index++;
    }
    fields = 1;
    empty = true;
    return found;
  };
  try {
    for (;;) {
      const n = await file.read(buffer);
      const text = n === null ? decoder.decode() : decoder.decode(buffer.subarray(0, n), {
        stream: true,
      });
      for (let i = 0; i < text.length; i++) {
        const c = text.charCodeAt(i);
        if (afterCR) {
          afterCR = false;
          if (c === 10) continue;
        }
        if (i === 0 && line === 1 && index < 0 && empty && c === 0xfeff) continue;
        if (c === 10 || c === 13) {
          afterCR = c === 13;
          line++;
          if (quoted) continue;
          const found = end(false);
          if (found) return found;
          start = line;
        } else if (c === 34) {
          quoted = !quoted;
          empty = false;
        } else {
          if (c === 44 && !quoted) fields++;
          empty = false;
        }
      }
      if (n === null) break;
    }
    if (quoted || !(empty && fields === 1)) return end(quoted) ?? undefined;
    return undefined;
  } finally {
    file.close();
  }
}

/** The line data record `index` (0-based) of `path` starts on; `undefined` past the end. */
export async function csvRecordLine(path: string, index: number): Promise<number | undefined> {
  return (await findCsvRecord(path, (record) => record.index === index))?.line;
}

/**
 * The first record of `path` with another number of fields than the header, or whose quoted
 * value is never closed; `undefined` when there is none.
 */
export function firstMalformedCsvRecord(path: string): Promise<CsvRecord | undefined> {
  return findCsvRecord(
    path,
    (record, header) => record.unclosed || record.fields !== header.fields,
  );
}
