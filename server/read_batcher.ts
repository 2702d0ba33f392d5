/**
 * Online reads of concurrent requests, merged: while `maxInFlight` store reads are running,
 * new reads queue up and go to the store together as one read when a slot frees. At low load
 * a read goes out at once (no added latency); under load, one store round trip serves many
 * requests (Deno KV: fewer `getMany` calls; Redis over HTTP: one pipeline instead of many).
 */
import type { OnlineKey, OnlineRecord, OnlineStore } from "../engine/mod.ts";

type Keys = readonly OnlineKey[];
type Records = (OnlineRecord | null)[];

interface Pending {
  readonly keys: Keys;
  readonly resolve: (records: Records) => void;
  readonly reject: (err: unknown) => void;
}

/** Options for {@linkcode ReadBatcher}. */
export interface ReadBatcherOptions {
  /** Store reads running at once. @default 4 */
  readonly maxInFlight?: number;
  /** Most keys in one merged read (a single larger request still goes alone). @default 200 */
  readonly maxKeys?: number;
}

/**
 * Merges concurrent `read()` calls on an online store.
 *
 * @example
 * ```ts ignore
 * const batcher = new ReadBatcher(online);
 * const online2 = { ...online, read: (keys) => batcher.read(keys) };
 * ```
 */
export class ReadBatcher {
  readonly #store: Pick<OnlineStore, "read">;
  readonly #maxInFlight: number;
  readonly #maxKeys: number;
  readonly #queue: Pending[] = [];
  #inFlight = 0;

  /** Makes a batcher over `store`'s reads. */
  constructor(store: Pick<OnlineStore, "read">, options: ReadBatcherOptions = {}) {
    this.#store = store;
    this.#maxInFlight = options.maxInFlight ?? 4;
    this.#maxKeys = options.maxKeys ?? 200;
  }

  /** Reads `keys` (one record or `null` per key, in order), possibly with other callers' keys. */
  read(keys: readonly OnlineKey[]): Promise<(OnlineRecord | null)[]> {
    return new Promise<Records>((resolve, reject) => {
      this.#queue.push({ keys, resolve, reject });
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#inFlight < this.#maxInFlight && this.#queue.length > 0) {
      let count = 0;
      let taken = 0;
      while (
        taken < this.#queue.length &&
        (taken === 0 || count + this.#queue[taken]!.keys.length <= this.#maxKeys)
      ) {
        count += this.#queue[taken]!.keys.length;
        taken++;
      }
      this.#run(this.#queue.splice(0, taken));
    }
  }

  #run(batch: Pending[]): void {
    this.#inFlight++;
    let read: Promise<Records>;
    let slots: number[][] | undefined;
    if (batch.length === 1) {
      read = this.#store.read(batch[0]!.keys);
    } else {
      const index = new Map<string, number>();
      const keys: Keys[number][] = [];
      slots = batch.map((p) =>
        p.keys.map((k) => {
          const id = `${k.view}\u0000${k.entityKey}`;
          let slot = index.get(id);
          if (slot === undefined) {
            slot = keys.length;
            index.set(id, slot);
            keys.push(k);
          }
          return slot;
        })
      );
      read = this.#store.read(keys);
    }
    read.then(
      (records) => {
        if (!slots) batch[0]!.resolve(records);
        else batch.forEach((p, i) => p.resolve(slots![i]!.map((s) => records[s] ?? null)));
      },
      (err) => {
        for (const p of batch) p.reject(err);
      },
    ).finally(() => {
      this.#inFlight--;
      this.#pump();
    });
  }
}
