/**
 * `OfflineLedger`: how the processor keeps a redelivered event out of the batch source when
 * it is already there. Before a part file is written, a ledger file beside it (in the hidden
 * `.larder-stream/<view>/` folder of the parts folder, which no source reads) lists the ids of
 * the entries it will hold; the part itself is written atomically. Once those entries are
 * acknowledged the ledger file goes. An entry delivered again after a crash is in the batch
 * source exactly when some ledger file lists it and that file's part exists: then only its
 * online write is repeated (which skip-if-not-newer makes harmless). Duplicates are thus
 * prevented, not removed afterwards.
 */
import { basename, join } from "node:path";
import { atomicWriteFile } from "../../registry/mod.ts";

interface LedgerRecord {
  /** The part file's name, in the parts folder. */
  readonly part: string;
  readonly ids: readonly string[];
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** The ledger of one stream feature view's parts. */
export class OfflineLedger {
  readonly #partsDir: string;
  readonly #dir: string;
  readonly #retentionMs: number;

  /**
   * `partsDir`: where the view's parts go. Ledger files older than `retentionMs` are dropped
   * when read (their entries were acknowledged long ago, or their part was never written).
   */
  constructor(partsDir: string, view: string, options: { retentionMs?: number } = {}) {
    this.#partsDir = partsDir;
    this.#dir = join(partsDir, ".larder-stream", view);
    this.#retentionMs = options.retentionMs ?? 3_600_000;
  }

  /** Records that part file `part` (a path in the parts folder) will hold entries `ids`. */
  async record(part: string, ids: readonly string[]): Promise<string> {
    await Deno.mkdir(this.#dir, { recursive: true });
    const file = join(this.#dir, `${basename(part)}.json`);
    const record: LedgerRecord = { part: basename(part), ids };
    await atomicWriteFile(file, JSON.stringify(record));
    return file;
  }

  /** Forgets a ledger file once its entries are acknowledged. */
  async forget(ledgerFile: string): Promise<void> {
    await Deno.remove(ledgerFile).catch((err) => {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    });
  }

  /** Which of `ids` some existing part already holds. */
  async written(ids: readonly string[]): Promise<Set<string>> {
    const wanted = new Set(ids);
    const found = new Set<string>();
    let names: string[];
    try {
      names = (await Array.fromAsync(Deno.readDir(this.#dir)))
        .filter((e) => e.isFile && e.name.endsWith(".json")).map((e) => e.name);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return found;
      throw err;
    }
    for (const name of names) {
      const file = join(this.#dir, name);
      let record: LedgerRecord;
      let mtime: number;
      try {
        const [text, stat] = await Promise.all([Deno.readTextFile(file), Deno.stat(file)]);
        record = JSON.parse(text) as LedgerRecord;
        mtime = stat.mtime?.getTime() ?? Date.now();
      } catch (err) {
        if (err instanceof Deno.errors.NotFound) continue; // forgotten meanwhile
        throw err;
      }
      if (Date.now() - mtime > this.#retentionMs) {
        await this.forget(file);
        continue;
      }
      if (!record.ids.some((id) => wanted.has(id))) continue;
      if (!(await exists(join(this.#partsDir, record.part)))) continue;
      for (const id of record.ids) if (wanted.has(id)) found.add(id);
    }
    return found;
  }
}
