/** Reads and writes the registry document through a backend, with a read cache. */
import type { RegistryBackend } from "./backend.ts";
import {
  emptyDocument,
  type ObjectMeta,
  objectOf,
  type RegistryDocument,
  RegistryDocumentSchema,
  withNameMaps,
} from "./document.ts";
import { LarderError } from "./errors.ts";
import { formatIssues } from "./_zod.ts";
import type { ObjectKind, SpecOf } from "./specs.ts";

/** A stored object with its metadata. */
export interface RegistryObject<K extends ObjectKind> {
  /** The object's kind. */
  readonly kind: K;
  /** The object's name. */
  readonly name: string;
  /** Its spec. */
  readonly spec: SpecOf[K];
  /** When it was created and changed, and its spec's hash. */
  readonly meta: ObjectMeta;
}

/** Options for {@linkcode Registry}. */
export interface RegistryOptions {
  /** The project that `larder.yaml` names; the stored document must belong to it. */
  readonly project: string;
  /** How long a read is reused. @default 60 */
  readonly cacheTtlSeconds?: number;
}

/**
 * The registry of one project.
 *
 * @example
 * ```ts
 * import { FileRegistryBackend, Registry } from "./mod.ts";
 * const registry = new Registry(new FileRegistryBackend("/tmp/r.json"), { project: "demo" });
 * const doc = await registry.read();
 * ```
 */
export class Registry {
  /** Where the document is stored. */
  readonly backend: RegistryBackend;
  /** The project. */
  readonly project: string;
  readonly #ttlMs: number;
  #cached: { doc: RegistryDocument; at: number } | undefined;

  /** Makes the registry of `options.project` stored in `backend`. */
  constructor(backend: RegistryBackend, options: RegistryOptions) {
    this.backend = backend;
    this.project = options.project;
    this.#ttlMs = (options.cacheTtlSeconds ?? 60) * 1000;
  }

  /** The document, from the cache when it is younger than the TTL (or `fresh` is false). */
  async read(options: { fresh?: boolean } = {}): Promise<RegistryDocument> {
    const cached = this.#cached;
    if (!options.fresh && cached && performance.now() - cached.at < this.#ttlMs) return cached.doc;
    const stored = await this.backend.read();
    const doc = stored === null ? emptyDocument(this.project) : this.#parse(stored.text);
    this.#cached = { doc, at: performance.now() };
    return doc;
  }

  /** The cached document without any I/O, if one was read before. */
  peek(): RegistryDocument | undefined {
    return this.#cached?.doc;
  }

  /**
   * Writes `next` as the version after `base`. Fails with `REGISTRY_CONFLICT` if anyone
   * wrote since `base` was read; nothing is written then.
   */
  async commit(base: RegistryDocument, next: RegistryDocument): Promise<RegistryDocument> {
    const doc: RegistryDocument = {
      ...withNameMaps(next),
      project: this.project,
      version: base.version + 1,
      updatedAt: new Date().toISOString(),
    };
    const text = JSON.stringify(doc, null, 2) + "\n";
    await this.backend.compareAndSet(base.version, { version: doc.version, text });
    this.#cached = { doc, at: performance.now() };
    return doc;
  }

  /**
   * Reads the latest document, applies `change` and commits it, retrying when another
   * writer got in first. For merges that stay correct on any base (e.g. recording an interval).
   */
  async update(
    change: (doc: RegistryDocument) => RegistryDocument,
    options: { attempts?: number } = {},
  ): Promise<RegistryDocument> {
    const attempts = options.attempts ?? 5;
    for (let i = 1;; i++) {
      const base = await this.read({ fresh: true });
      try {
        return await this.commit(base, change(structuredClone(base)));
      } catch (err) {
        if (!(err instanceof LarderError && err.code === "REGISTRY_CONFLICT") || i >= attempts) {
          throw err;
        }
      }
    }
  }

  /** Every object of one kind, sorted by name. */
  async list<K extends ObjectKind>(kind: K): Promise<RegistryObject<K>[]> {
    const doc = await this.read();
    const objects = doc.objects[kind] as Record<string, { spec: SpecOf[K]; meta: ObjectMeta }>;
    return Object.keys(objects).sort().map((name) => ({ kind, name, ...objects[name]! }));
  }

  /** One object; throws `NOT_FOUND` naming what the registry has instead. */
  async get<K extends ObjectKind>(kind: K, name: string): Promise<RegistryObject<K>> {
    const found = objectOf(await this.read(), kind, name);
    return { kind, name, ...found };
  }

  /** Entities, sorted by name. */
  listEntities(): Promise<RegistryObject<"entity">[]> {
    return this.list("entity");
  }

  /** Data sources, sorted by name. */
  listDataSources(): Promise<RegistryObject<"dataSource">[]> {
    return this.list("dataSource");
  }

  /** Feature views, sorted by name. */
  listFeatureViews(): Promise<RegistryObject<"featureView">[]> {
    return this.list("featureView");
  }

  /** On-demand feature views, sorted by name. */
  listOnDemandFeatureViews(): Promise<RegistryObject<"onDemandFeatureView">[]> {
    return this.list("onDemandFeatureView");
  }

  /** Feature services, sorted by name. */
  listFeatureServices(): Promise<RegistryObject<"featureService">[]> {
    return this.list("featureService");
  }

  /** Permissions, sorted by name. */
  listPermissions(): Promise<RegistryObject<"permission">[]> {
    return this.list("permission");
  }

  #parse(text: string): RegistryDocument {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (cause) {
      throw new LarderError(
        "REGISTRY_CORRUPT",
        `Cannot read the registry (${this.backend.location}): not valid JSON`,
        {
          cause,
        },
      );
    }
    const parsed = RegistryDocumentSchema.safeParse(raw);
    if (!parsed.success) {
      throw new LarderError(
        "REGISTRY_CORRUPT",
        `Cannot read the registry (${this.backend.location}): ${
          formatIssues(parsed.error, raw).slice(0, 3).join("; ")
        }`,
      );
    }
    if (parsed.data.project !== this.project) {
      throw new LarderError(
        "CONFIG_INVALID",
        `The registry (${this.backend.location}) belongs to project "${parsed.data.project}", but larder.yaml names "${this.project}"`,
      );
    }
    return parsed.data;
  }
}
