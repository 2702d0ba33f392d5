/**
 * The entity table in Postgres: described up front, then loaded for each run into a temporary
 * table (`COPY … FROM STDIN`) with its input order as `__rid`.
 */
import { resolve } from "node:path";
import { type DataType, type Schema, Table, Type } from "apache-arrow";
import { LarderError, type ScalarType, type ValueType } from "../../registry/mod.ts";
import { type EntityInput, readParquetFile, tableFromRows } from "../offline/mod.ts";
import { isoMicros } from "../timestamps.ts";
import { pgError, pgIdent, pgString, type Session } from "./_client.ts";
import { tempTable } from "./_source.ts";
import {
  arrowTypeOf,
  entityOutputType,
  floatPrecision,
  intBits,
  pgTypeOfArrow,
  valueTypeOfPg,
} from "./_types.ts";

/** A column of the entity table. */
export interface EntityColumn {
  readonly name: string;
  /** For messages: the Arrow or Postgres type. */
  readonly typeName: string;
  readonly valueType: ValueType | undefined;
  /** The Arrow type it comes back as. */
  readonly output: DataType;
}

/** An entity input, ready to describe and load: Arrow data, or a Postgres query. */
export type PreparedEntities =
  | { readonly kind: "arrow"; readonly table: Table }
  | { readonly kind: "csv"; readonly path: string; readonly header: readonly string[] }
  | { readonly kind: "sql"; readonly sql: string };

/** The fields of a CSV header line (quotes as RFC 4180 writes them). */
function headerFields(line: string): string[] {
  const fields: string[] = [];
  let at = 0;
  while (at <= line.length) {
    if (line[at] === '"') {
      let value = "";
      at++;
      while (at < line.length) {
        if (line[at] === '"' && line[at + 1] === '"') {
          value += '"';
          at += 2;
        } else if (line[at] === '"') {
          at++;
          break;
        } else value += line[at++];
      }
      fields.push(value);
      at = line.indexOf(",", at) < 0 ? line.length + 1 : line.indexOf(",", at) + 1;
    } else {
      const end = line.indexOf(",", at);
      fields.push(line.slice(at, end < 0 ? line.length : end).trim());
      at = end < 0 ? line.length + 1 : end + 1;
    }
  }
  return fields;
}

function arrowValueType(type: DataType): ValueType | undefined {
  switch (type.typeId) {
    case Type.Int:
      return intBits(type) === 64 ? "int64" : "int32";
    case Type.Float:
      return floatPrecision(type) === 1 ? "float32" : "float64";
    case Type.Decimal:
      return "float64";
    case Type.Utf8:
    case Type.LargeUtf8:
      return "string";
    case Type.Bool:
      return "bool";
    case Type.Binary:
    case Type.LargeBinary:
      return "bytes";
    case Type.Timestamp:
    case Type.Date:
      return "timestamp";
  }
  return undefined;
}

/** The entity input as Arrow data or a query; rows and files become Arrow once, here. */
export async function prepareEntities(
  input: EntityInput,
  repoDir: string,
): Promise<PreparedEntities> {
  if (typeof input === "string") {
    const path = resolve(repoDir, input);
    if (/\.csv$/i.test(path)) {
      let text: string;
      try {
        // The header and a first row are enough here; the rows are copied at each run.
        using file = await Deno.open(path);
        const buffer = new Uint8Array(64 * 1024);
        text = new TextDecoder().decode(buffer.subarray(0, (await file.read(buffer)) ?? 0));
      } catch (err) {
        throw new LarderError(
          "INPUT_INVALID",
          `Cannot read entity file "${path}": ${(err as Error).message}`,
          { cause: err, details: { path } },
        );
      }
      const first = text.split(/\r?\n/, 1)[0] ?? "";
      const rest = text.slice(first.length).trim();
      if (first.trim() === "" || rest === "") {
        throw new LarderError("INPUT_INVALID", `The entity file "${path}" has no rows`, {
          details: { path },
        });
      }
      return { kind: "csv", path, header: headerFields(first) };
    }
    if (!/\.parquet$/i.test(path)) {
      throw new LarderError(
        "INPUT_INVALID",
        `Cannot read entity file "${path}": expected a .parquet file`,
        { details: { path } },
      );
    }
    const table = await readParquetFile(path).catch((err: Error) => {
      throw new LarderError("INPUT_INVALID", `Cannot read entity file "${path}": ${err.message}`, {
        cause: err,
      });
    });
    return checkNotEmpty({ kind: "arrow", table });
  }
  if (Array.isArray(input)) {
    if (input.length === 0) throw new LarderError("INPUT_INVALID", "The entity table is empty");
    return { kind: "arrow", table: tableFromRows(input) };
  }
  if (
    input instanceof Table || (typeof input === "object" && input !== null && "schema" in input)
  ) {
    return checkNotEmpty({ kind: "arrow", table: input as Table });
  }
  if (
    typeof input === "object" && input !== null && "sql" in input && typeof input.sql === "string"
  ) {
    return { kind: "sql", sql: input.sql.replace(/;\s*$/, "") };
  }
  throw new LarderError(
    "INPUT_INVALID",
    "Entity input must be a file path, an Arrow table, an array of rows or { sql }",
  );
}

function checkNotEmpty(entities: PreparedEntities & { kind: "arrow" }): PreparedEntities {
  if (entities.table.numRows === 0) {
    throw new LarderError("INPUT_INVALID", "The entity table is empty");
  }
  return entities;
}

function describeSchema(schema: Schema): EntityColumn[] {
  return schema.fields.map((f) => ({
    name: f.name,
    typeName: String(f.type),
    valueType: arrowValueType(f.type),
    output: entityOutputType(f.type),
  }));
}

/** The entity input's columns (a query's from Postgres, without reading its rows). */
export async function describeEntities(
  session: Session,
  entities: PreparedEntities,
  registered: ReadonlyMap<string, Table>,
): Promise<EntityColumn[]> {
  if (entities.kind === "csv") return (await loadCsv(session, entities)).columns;
  if (entities.kind === "arrow") {
    const columns = describeSchema(entities.table.schema);
    // Refuses list columns now rather than at the first run.
    entities.table.schema.fields.forEach((f) => pgTypeOfArrow(f.type, f.name));
    return columns;
  }
  const view = tempTable("entity_describe");
  try {
    await loadRegistered(session, registered);
    await session.unsafe(`CREATE TEMP VIEW ${pgIdent(view)} AS ${entities.sql}`);
    const rows = await session.unsafe(
      `SELECT attname AS name, upper(format_type(atttypid, atttypmod)) AS type FROM pg_attribute ` +
        `WHERE attrelid = ${pgString(pgIdent(view))}::regclass AND attnum > 0 ORDER BY attnum`,
    );
    return rows.map((r) => {
      const valueType = valueTypeOfPg(String(r.type));
      const scalar = valueType === undefined || valueType.endsWith("[]")
        ? undefined
        : valueType as ScalarType;
      return {
        name: String(r.name),
        typeName: String(r.type),
        valueType: scalar,
        output: arrowTypeOf(scalar ?? "string"),
      };
    });
  } catch (err) {
    const e = pgError(err, "describing the entity query");
    throw new LarderError("INPUT_INVALID", `Entity query failed: ${e.message}`, { cause: err });
  } finally {
    await session.unsafe(`DROP VIEW IF EXISTS ${pgIdent(view)}`).catch(() => {});
  }
}

function csvCell(value: unknown, type: DataType): string {
  if (value === null || value === undefined) return "";
  switch (type.typeId) {
    case Type.Timestamp:
    case Type.Date:
      // apache-arrow returns epoch milliseconds (a float, so microseconds survive).
      return isoMicros(BigInt(Math.round(Number(value) * 1000)));
    case Type.Bool:
      return value ? "t" : "f";
    case Type.Binary:
    case Type.LargeBinary: {
      const bytes = value as Uint8Array;
      return `\\x${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
    }
    case Type.Utf8:
    case Type.LargeUtf8:
      return `"${String(value).replaceAll('"', '""')}"`;
    case Type.Float: {
      const n = Number(value);
      return Number.isFinite(n)
        ? String(n)
        : Number.isNaN(n)
        ? "NaN"
        : n > 0
        ? "Infinity"
        : "-Infinity";
    }
    default:
      return String(value);
  }
}

/** Loads the entities into a new temporary table (`__rid` first, input order) and names it. */
export async function loadEntities(
  session: Session,
  entities: PreparedEntities,
  registered: ReadonlyMap<string, Table>,
): Promise<string> {
  const table = tempTable("entities");
  if (entities.kind === "sql") {
    await loadRegistered(session, registered);
    try {
      await session.unsafe(
        `CREATE TEMP TABLE ${
          pgIdent(table)
        } AS SELECT row_number() OVER () AS __rid, q.* FROM (${entities.sql}) q`,
      );
    } catch (err) {
      const e = pgError(err, "running the entity query");
      throw new LarderError("INPUT_INVALID", `Entity query failed: ${e.message}`, { cause: err });
    }
    return await analyze(session, table);
  }
  if (entities.kind === "csv") {
    return await analyze(session, (await loadCsv(session, entities)).table);
  }
  await copyTable(session, table, entities.table, { rid: true });
  return await analyze(session, table);
}

/** Statistics for the planner (temporary tables get none by themselves); returns `table`. */
async function analyze(session: Session, table: string): Promise<string> {
  await session.unsafe(`ANALYZE ${pgIdent(table)}`).catch((err) => {
    throw pgError(err, "analyzing the entity table");
  });
  return table;
}

const SNIFF: ReadonlyArray<readonly [string, string, ValueType]> = [
  ["int8", "^\\s*[-+]?\\d{1,18}\\s*$", "int64"],
  ["float8", "^\\s*[-+]?(\\d+\\.?\\d*|\\.\\d+)([eE][-+]?\\d+)?\\s*$", "float64"],
  [
    "timestamptz",
    "^\\s*\\d{4}-\\d{2}-\\d{2}([ T]\\d{2}:\\d{2}(:\\d{2}(\\.\\d+)?)?)?\\s*(Z|[-+]\\d{2}(:?\\d{2})?)?\\s*$",
    "timestamp",
  ],
  ["bool", "^\\s*(true|false)\\s*$", "bool"],
];

/**
 * Copies a CSV entity file into a temporary table: its text as is (`COPY … CSV HEADER`), then
 * each column typed by what all its values look like (integers, numbers, ISO timestamps,
 * booleans, else text; empty fields are NULL), with `__rid` the line order.
 */
async function loadCsv(
  session: Session,
  entities: PreparedEntities & { kind: "csv" },
): Promise<{ table: string; columns: EntityColumn[] }> {
  const raw = tempTable("entities_csv");
  const table = tempTable("entities");
  const names = entities.header;
  const quoted = names.map(pgIdent);
  try {
    await session.unsafe(
      `CREATE TEMP TABLE ${pgIdent(raw)} (__rid bigserial, ${
        quoted.map((q) => `${q} text`).join(", ")
      })`,
    );
    const writable = await session.unsafe(
      `COPY ${pgIdent(raw)} (${quoted.join(", ")}) FROM STDIN WITH (FORMAT csv, HEADER true)`,
    ).writable();
    const file = await Deno.open(entities.path);
    for await (const chunk of file.readable) {
      await new Promise<void>((ok, fail) =>
        writable.write(chunk, (err?: Error | null) => (err ? fail(err) : ok()))
      );
    }
    await new Promise<void>((ok, fail) => {
      writable.on("error", fail);
      writable.end(() => ok());
    });
    const checks = quoted.flatMap((q, i) =>
      SNIFF.map(([, regex], j) => `bool_and(${q} ~* ${pgString(regex)}) AS s${i}_${j}`)
    );
    const [sniffed] = await session.unsafe(`SELECT ${checks.join(", ")} FROM ${pgIdent(raw)}`);
    const columns: EntityColumn[] = [];
    const selects = ["__rid"];
    names.forEach((name, i) => {
      const j = SNIFF.findIndex((_, j) => sniffed?.[`s${i}_${j}`] === true);
      const [pgType, , valueType] = j >= 0 ? SNIFF[j]! : ["text", "", "string" as ValueType];
      selects.push(`${quoted[i]}::${pgType} AS ${quoted[i]}`);
      columns.push({ name, typeName: pgType, valueType, output: arrowTypeOf(valueType) });
    });
    await session.unsafe(
      `CREATE TEMP TABLE ${pgIdent(table)} AS SELECT ${selects.join(", ")} FROM ${pgIdent(raw)}`,
    );
    await session.unsafe(`DROP TABLE ${pgIdent(raw)}`);
    return { table, columns };
  } catch (err) {
    const e = pgError(err, `loading entity file "${entities.path}"`);
    throw new LarderError(
      "INPUT_INVALID",
      `Cannot read entity file "${entities.path}": ${e.message}`,
      {
        cause: err,
        details: { path: entities.path },
      },
    );
  }
}

/** Copies the tables registered with `registerTable` into temporary tables of their names. */
async function loadRegistered(
  session: Session,
  registered: ReadonlyMap<string, Table>,
): Promise<void> {
  for (const [name, data] of registered) await copyTable(session, name, data, { rid: false });
}

/** Creates temporary table `name` from Arrow data and fills it with `COPY`. */
async function copyTable(
  session: Session,
  name: string,
  data: Table,
  options: { rid: boolean },
): Promise<void> {
  const fields = data.schema.fields;
  const columns = [
    ...(options.rid ? ["__rid int8"] : []),
    ...fields.map((f) => `${pgIdent(f.name)} ${pgTypeOfArrow(f.type, f.name)}`),
  ];
  try {
    await session.unsafe(`DROP TABLE IF EXISTS pg_temp.${pgIdent(name)}`);
    await session.unsafe(`CREATE TEMP TABLE ${pgIdent(name)} (${columns.join(", ")})`);
    const writable = await session.unsafe(
      `COPY ${pgIdent(name)} FROM STDIN WITH (FORMAT csv)`,
    ).writable();
    const vectors = fields.map((_, i) => data.getChildAt(i)!);
    const chunk = 4096;
    let rid = 0;
    for (let at = 0; at < data.numRows; at += chunk) {
      let text = "";
      const end = Math.min(at + chunk, data.numRows);
      for (let r = at; r < end; r++) {
        const cells = fields.map((f, i) => csvCell(vectors[i]!.get(r), f.type));
        text += `${options.rid ? `${rid++},` : ""}${cells.join(",")}\n`;
      }
      await new Promise<void>((ok, fail) =>
        writable.write(text, (err?: Error | null) => (err ? fail(err) : ok()))
      );
    }
    await new Promise<void>((ok, fail) => {
      writable.on("error", fail);
      writable.end(() => ok());
    });
  } catch (err) {
    throw pgError(err, `loading the entity table into "${name}"`);
  }
}
