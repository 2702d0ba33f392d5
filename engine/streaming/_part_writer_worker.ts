/**
 * The worker of {@linkcode PartWriter} (part_writer.ts): writes one table per message with
 * `writeTable` and answers `done` or the error as data.
 */
import { isLarderError } from "../../registry/mod.ts";
import { loadArrowColumns, loadOffline } from "../lazy.ts";
import { writeTable } from "../table_writer.ts";
import type { PartJob, PartReply } from "./part_writer.ts";

const scope = globalThis as unknown as {
  postMessage(message: PartReply): void;
  onmessage: ((event: MessageEvent<PartJob>) => void) | null;
};

// Loaded now rather than while the first part waits (a failure to load is that write's error).
void Promise.all([
  loadArrowColumns("Writing a table"),
  loadOffline("Writing a Parquet file"),
]).catch(() => {});

scope.onmessage = async ({ data: job }) => {
  try {
    await writeTable(job.file, job.columns, job.types);
    scope.postMessage({ id: job.id, ok: true });
  } catch (err) {
    scope.postMessage({
      id: job.id,
      ok: false,
      error: isLarderError(err)
        ? { code: err.code, message: err.message, details: err.details }
        : { message: err instanceof Error ? err.message : String(err), name: (err as Error)?.name },
    });
  }
};
