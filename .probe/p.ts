import { DuckDBInstance } from "@duckdb/node-api";
const t0 = performance.now();
const inst = await DuckDBInstance.create(":memory:", { autoload_known_extensions: "false", autoinstall_known_extensions: "false" });
console.log("open ms", performance.now() - t0);
const c = await inst.connect();
const r = await c.runAndReadAll("SELECT extension_name, loaded, installed FROM duckdb_extensions() WHERE loaded");
console.log(r.getRowObjects());
console.log((await c.runAndReadAll("SELECT current_setting('threads') t, current_setting('memory_limit') m, current_setting('temp_directory') d, current_setting('TimeZone') tz, version() v")).getRowObjects());
await c.run("COPY (SELECT range AS i, range::VARCHAR AS s FROM range(10)) TO '/tmp/nprobe/x.parquet'");
console.log((await c.runAndReadAll("SELECT * FROM read_parquet('/tmp/nprobe/x.parquet') LIMIT 2")).getRowObjects());
try { await c.run("SELECT * FROM read_parquet('/tmp/nprobe/none.parquet')"); } catch (e) { console.log("ERR", (e as Error).message); }
try { await c.run("SELECT CAST('x' AS INTEGER)"); } catch (e) { console.log("ERR", (e as Error).message); }
