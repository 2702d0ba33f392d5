/**
 * What the registry API answers from, derived once per registry document and shared by every
 * caller (kept while the document is served): each object's Feast JSON, each view's features,
 * and the lineage with its index by object. Nothing here is a permission decision: callers pass
 * their `visible` and filter what they get.
 */
import { findObject, type RegistryDocument } from "../engine/mod.ts";
import {
  dataSourceJson,
  type EmbeddedType,
  entityJson,
  featureJson,
  featureServiceJson,
  featureViewJson,
  type Json,
  onDemandFeatureViewJson,
  permissionJson,
  type Visible,
} from "./_feast_json.ts";
import { type Lineage, lineageOf } from "./_feast_lineage.ts";

/** The kinds of object the API answers with. */
export type CatalogKind =
  | "entity"
  | "dataSource"
  | "featureView"
  | "onDemandFeatureView"
  | "featureService"
  | "permission";

type Builder = (doc: RegistryDocument, name: string, visible: Visible) => Json | undefined;

const BUILDERS: Readonly<Record<CatalogKind, Builder>> = {
  entity: entityJson,
  dataSource: dataSourceJson,
  featureView: featureViewJson,
  onDemandFeatureView: onDemandFeatureViewJson,
  featureService: featureServiceJson,
  permission: permissionJson,
};

/** An object's JSON with everything embedded, and the objects its builder asked about. */
interface Built {
  readonly json: Json | undefined;
  readonly embeds: readonly (readonly [EmbeddedType, string])[];
}

/** One registry document's JSON and lineage, built on first use. */
export class Catalog {
  readonly #doc: RegistryDocument;
  readonly #built = new Map<string, Built>();
  readonly #features = new Map<string, Json[]>();
  #lineage: Lineage | undefined;

  constructor(doc: RegistryDocument) {
    this.#doc = doc;
  }

  /**
   * The JSON of `kind`/`name` as the caller sees it: the shared copy when the caller may see
   * everything it embeds (the usual case), else built again with the caller's `visible`.
   * Shared objects: never change what this returns.
   */
  json(kind: CatalogKind, name: string, visible: Visible): Json | undefined {
    const key = `${kind}\0${name}`;
    let built = this.#built.get(key);
    if (!built) {
      const embeds: [EmbeddedType, string][] = [];
      const json = BUILDERS[kind](this.#doc, name, (type, embedded) => {
        embeds.push([type, embedded]);
        return true;
      });
      this.#built.set(key, built = { json, embeds });
    }
    // The builder asks the same questions as long as the answers are the same: all true here.
    if (built.embeds.every(([type, embedded]) => visible(type, embedded))) return built.json;
    return BUILDERS[kind](this.#doc, name, visible);
  }

  /** The features of the view (either kind) `view`, as `/features` lists them. */
  features(view: string): Json[] {
    let found = this.#features.get(view);
    if (!found) {
      const spec = findObject(this.#doc, "featureView", view)?.spec ??
        findObject(this.#doc, "onDemandFeatureView", view)?.spec;
      found = spec?.features.map((f) => featureJson(view, f)) ?? [];
      this.#features.set(view, found);
    }
    return found;
  }

  /** Every relationship of the document, and its index by object. */
  get lineage(): Lineage {
    return this.#lineage ??= lineageOf(this.#doc);
  }
}

const catalogs = new WeakMap<RegistryDocument, Catalog>();

/** The catalog of `doc` (one per document object: the registry cache keeps it while unchanged). */
export function catalogOf(doc: RegistryDocument): Catalog {
  let found = catalogs.get(doc);
  if (!found) catalogs.set(doc, found = new Catalog(doc));
  return found;
}
