/**
 * Feast's registry REST API (`sdk/python/feast/api/registry/rest/`), read-only, under
 * `/api/v1`: projects, entities, data sources, feature views (regular and on-demand), feature
 * services, features, permissions, saved datasets and label views (Larder has none: empty
 * lists) and lineage, in Feast's protobuf JSON, with its pagination, sorting, filters and
 * `include_relationships`. This is what Feast's web UI reads.
 *
 * The same auth and permissions as every other route: lists hold what the caller may DESCRIBE
 * (and the deployment serves); a hidden object answers 404 like an unknown one; nothing hidden
 * appears anywhere else either (embedded in an object, at an end of a relationship). Each
 * object's JSON and the lineage are built once per registry document and shared; each request
 * filters them for its caller. Mutations answer 405.
 */
import type { Context, Hono } from "hono";
import {
  type Action,
  findObject,
  LarderError,
  ownValue,
  parseTimestamp,
  type RegistryDocument,
  type Resource,
  timestampError,
} from "../engine/mod.ts";
import type { AppEnv } from "./app.ts";
import { ApiError } from "./errors.ts";
import { type Catalog, type CatalogKind, catalogOf } from "./_feast_catalog.ts";
import { featureJson, type Json, projectJson, type Visible } from "./_feast_json.ts";
import {
  involves,
  LINEAGE_TYPES,
  type LineageType,
  type Relation,
  relationsOf,
} from "./_feast_lineage.ts";
import {
  allPage,
  allPaging,
  atPath,
  flag,
  hasAllTags,
  type Paging,
  projectPaging,
  type Query,
  registryPage,
  required,
  tagsOf,
} from "./_feast_query.ts";
import { describableResources, findResource, findView, type Lookup } from "./_scope.ts";

type AppHandler = (c: Context<AppEnv>) => Promise<Response>;
type ResourceType = Resource["type"];

/** What the routes need from the app. */
export interface RegistryApiOptions {
  /** The registry as served and what this caller may do in it. */
  readonly lookup: (c: Context<AppEnv>) => Promise<Lookup>;
  /** Authenticates the caller before the handler runs. */
  readonly authenticated: (handler: AppHandler) => AppHandler;
}

/** The path prefix of the API (Feast's `root_path`). */
export const REGISTRY_API_BASE = "/api/v1";

const DESCRIBE: Action[] = ["DESCRIBE"];

/** Python attribute names Feast sorts a project's lists by, as paths in the JSON. */
const SORT_ALIAS: Readonly<Record<string, string>> = {
  created_timestamp: "meta.createdTimestamp",
  last_updated_timestamp: "meta.lastUpdatedTimestamp",
};

function camel(path: string): string {
  return path.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
}

/** The value Feast's `apply_sorting` would sort `obj` by, for `path`. */
function sortValue(obj: unknown, path: string): unknown {
  for (
    const candidate of [ownValue(SORT_ALIAS, path), `spec.${camel(path)}`, camel(path), path]
  ) {
    if (candidate === undefined) continue;
    const value = atPath(obj, candidate);
    if (value !== undefined) return value;
  }
  return undefined;
}

/** The name of a listed object (`spec.name`, or `name` for a data source or a feature). */
function nameOf(obj: Json): string {
  return (obj.spec as { name?: string } | undefined)?.name ?? (obj.name as string);
}

/**
 * One request's view of the registry: what the caller may see of it. Nothing the caller may
 * not DESCRIBE (or the deployment does not serve) appears in an answer: not as an object, not
 * embedded in one (see {@linkcode Visible}), not at either end of a relationship (a feature
 * goes with the view it belongs to).
 */
class Served {
  readonly lookup: Lookup;
  readonly doc: RegistryDocument;
  readonly catalog: Catalog;
  readonly #names = new Map<ResourceType, string[]>();
  #seen: Set<string> | undefined;

  constructor(lookup: Lookup) {
    this.lookup = lookup;
    this.doc = lookup.doc;
    this.catalog = catalogOf(lookup.doc);
  }

  /** Names of the objects of `type` the deployment serves and the caller may describe. */
  names(type: ResourceType): string[] {
    let found = this.#names.get(type);
    if (!found) {
      found = describableResources(this.lookup, type).map((r) => r.name);
      this.#names.set(type, found);
    }
    return found;
  }

  /** Whether the caller may see `type`/`name` ("featureView": either kind of view). */
  sees(type: string, name: string): boolean {
    this.#seen ??= new Set([
      ...this.names("entity").map((n) => `entity\0${n}`),
      ...this.names("dataSource").map((n) => `dataSource\0${n}`),
      ...this.names("featureView").map((n) => `featureView\0${n}`),
      ...this.names("onDemandFeatureView").map((n) => `featureView\0${n}`),
      ...this.names("featureService").map((n) => `featureService\0${n}`),
    ]);
    return this.#seen.has(`${type}\0${name}`);
  }

  /** {@linkcode Served.sees}, for the JSON builders. */
  readonly visible: Visible = (type, name) => this.sees(type, name);

  /** The JSON of an object the caller may see, with what it embeds reduced to what it may see. */
  json(kind: CatalogKind, name: string): Json {
    return this.catalog.json(kind, name, this.visible)!;
  }

  /** Relationships whose both ends the caller may see. */
  related(relations: readonly Relation[]): Relation[] {
    const { owners } = this.catalog.lineage;
    const seesEnd = (r: Relation, end: Relation["source"]) =>
      end.type === "feature"
        ? this.sees("featureView", owners.get(r) ?? "")
        : this.sees(end.type, end.name);
    return relations.filter((r) => seesEnd(r, r.source) && seesEnd(r, r.target));
  }

  /** An object's relationships, direct and indirect (what `include_relationships` adds). */
  relations(type: LineageType, name: string): Relation[] {
    return this.related(relationsOf(this.catalog.lineage, type, name, true));
  }

  /** Relationships of each listed object, by name. */
  relationsMap(type: LineageType, objects: readonly Json[]): Record<string, Relation[]> {
    const out: Record<string, Relation[]> = {};
    for (const obj of objects) {
      const name = nameOf(obj);
      out[name] = this.relations(type, name);
    }
    return out;
  }

  /** Every feature view and on-demand view the caller may see, in Feast's order. */
  views(): Json[] {
    return [
      ...this.names("featureView").map((n) => this.json("featureView", n)),
      ...this.names("onDemandFeatureView").map((n) => this.json("onDemandFeatureView", n)),
    ];
  }

  /** Every feature of the views the caller may see. */
  features(): Json[] {
    return [...this.names("featureView"), ...this.names("onDemandFeatureView")]
      .flatMap((view) => this.catalog.features(view));
  }
}

function queryOf(c: Context<AppEnv>): Query {
  return (name) => c.req.query(name);
}

/** `filter_object_type` and `filter_object_name` of the lineage routes: both, or no filter. */
function filterOf(q: Query): (r: Relation) => boolean {
  const type = q("filter_object_type");
  const name = q("filter_object_name");
  return (r) => !type || !name || involves(r, type, name);
}

/** A project's list route: its objects, the page and (when asked) their relationships. */
interface ListSpec {
  /** Key of the list in the answer. */
  readonly key: string;
  /** What relationships call these objects; none: Feast's lineage answers no relationship. */
  readonly lineageType?: LineageType;
  /** The caller's objects, before paging (with the request's filters applied). */
  readonly items: (served: Served, c: Context<AppEnv>) => Json[];
}

/** A detail route: one object by name. */
interface DetailSpec {
  readonly lineageType?: LineageType;
  /** The object, looked up for the caller (throws `NOT_FOUND` / `FORBIDDEN`). */
  readonly find: (served: Served, name: string) => Json;
  /** Always add these (Feast's entity detail lists its data sources). */
  readonly extra?: (served: Served, name: string, json: Json) => Json;
}

function describe(served: Served, type: ResourceType, name: string): void {
  const resource = findResource(served.lookup, { type, name, actions: DESCRIBE });
  served.lookup.access.assert([resource], DESCRIBE);
}

function tagFilter(c: Context<AppEnv>): Record<string, string> {
  return tagsOf(c.req.queries("tags") ?? []);
}

function specTags(json: Json): Record<string, string> {
  return ((json.spec ?? json) as { tags?: Record<string, string> }).tags ?? {};
}

/** `updated_since` in milliseconds: a timestamp as the server reads every one (no offset: UTC). */
function sinceOf(text: string): number {
  const problem = timestampError(text, "an ISO 8601 timestamp (e.g. 2024-01-01T00:00:00Z)");
  if (problem !== undefined) {
    throw new LarderError("INPUT_INVALID", `Invalid query parameter "updated_since": ${problem}`, {
      details: { parameter: "updated_since", value: text.slice(0, 200) },
    });
  }
  return parseTimestamp(text)!.getTime();
}

/** The views of a feature service's JSON (its projections). */
function projectedViews(service: Json): string[] {
  const features = (service.spec as { features?: { featureViewName: string }[] }).features;
  return (features ?? []).map((p) => p.featureViewName);
}

/**
 * The data sources a view's JSON names, as Feast's `data_source` filter reads them: the batch
 * and stream sources of a feature view, the request sources of an on-demand view.
 */
function sourcesOf(view: Json): string[] {
  const spec = view.spec as {
    batchSource?: { name: string };
    streamSource?: { name: string };
    sources?: Record<string, { requestDataSource?: { name: string } }>;
  };
  if (view.type === "onDemandFeatureView") {
    return Object.values(spec.sources ?? {}).flatMap((s) =>
      s.requestDataSource ? [s.requestDataSource.name] : []
    );
  }
  return [spec.batchSource?.name, spec.streamSource?.name].filter((n) => n !== undefined);
}

function viewFilters(served: Served, c: Context<AppEnv>, views: Json[]): Json[] {
  const q = queryOf(c);
  const tags = tagFilter(c);
  const entity = q("entity");
  const feature = q("feature");
  const service = q("feature_service");
  const source = q("data_source");
  const updatedSince = q("updated_since");
  const since = updatedSince === undefined ? undefined : sinceOf(updatedSince);
  // Feast keeps no view when the service named is unknown or hidden.
  const serviceViews = service === undefined ? undefined : new Set(
    served.names("featureService").includes(service)
      ? projectedViews(served.json("featureService", service))
      : [],
  );
  return views.filter((json) => {
    const spec = json.spec as Json & { name: string };
    if (!hasAllTags(specTags(json), tags)) return false;
    if (since !== undefined) {
      const updated = Date.parse(String(atPath(json, "meta.lastUpdatedTimestamp") ?? ""));
      if (!(updated >= since)) return false;
    }
    if (entity !== undefined && !((spec.entities ?? []) as string[]).includes(entity)) {
      return false;
    }
    if (
      feature !== undefined &&
      !((spec.features ?? []) as { name: string }[]).some((f) => f.name === feature)
    ) return false;
    if (serviceViews && !serviceViews.has(spec.name)) return false;
    // Read from the caller's JSON, so that a hidden source matches nothing.
    if (source !== undefined && !sourcesOf(json).includes(source)) return false;
    return true;
  });
}

const LISTS: Readonly<Record<string, ListSpec>> = {
  entities: {
    key: "entities",
    lineageType: "entity",
    items: (s) => s.names("entity").map((n) => s.json("entity", n)),
  },
  data_sources: {
    key: "dataSources",
    lineageType: "dataSource",
    items: (s, c) => {
      const tags = tagFilter(c);
      return s.names("dataSource").map((n) => s.json("dataSource", n))
        .filter((json) => hasAllTags(specTags(json), tags));
    },
  },
  feature_views: {
    key: "featureViews",
    lineageType: "featureView",
    items: (s, c) => viewFilters(s, c, s.views()),
  },
  feature_services: {
    key: "featureServices",
    lineageType: "featureService",
    items: (s, c) => {
      const tags = tagFilter(c);
      const view = c.req.query("feature_view");
      return s.names("featureService").map((n) => s.json("featureService", n))
        .filter((json) =>
          hasAllTags(specTags(json), tags) &&
          (view === undefined || projectedViews(json).includes(view))
        );
    },
  },
  permissions: {
    key: "permissions",
    items: (s) => s.names("permission").map((n) => s.json("permission", n)),
  },
  features: {
    key: "features",
    lineageType: "feature",
    items: (s, c) => {
      const view = c.req.query("feature_view");
      const name = c.req.query("name");
      return s.features().filter((f) =>
        (view === undefined || f.featureView === view) && (name === undefined || f.name === name)
      );
    },
  },
  saved_datasets: { key: "savedDatasets", lineageType: "savedDataset", items: () => [] },
  label_views: { key: "featureViews", lineageType: "featureView", items: () => [] },
};

const DETAILS: Readonly<Record<string, DetailSpec>> = {
  entities: {
    lineageType: "entity",
    find: (s, name) => {
      describe(s, "entity", name);
      return s.json("entity", name);
    },
    extra: (s, name) => {
      const sources = new Set(
        s.relations("entity", name).filter((r) => r.target.type === "dataSource")
          .map((r) => r.target.name),
      );
      return { dataSources: [...sources].map((n) => s.json("dataSource", n)) };
    },
  },
  data_sources: {
    lineageType: "dataSource",
    find: (s, name) => {
      describe(s, "dataSource", name);
      return s.json("dataSource", name);
    },
  },
  feature_views: {
    lineageType: "featureView",
    find: (s, name) => {
      const view = findView(s.lookup, { name, actions: DESCRIBE });
      s.lookup.access.assert([view], DESCRIBE);
      return s.json(view.type as "featureView" | "onDemandFeatureView", view.name);
    },
  },
  feature_services: {
    lineageType: "featureService",
    find: (s, name) => {
      describe(s, "featureService", name);
      return s.json("featureService", name);
    },
  },
  permissions: {
    find: (s, name) => {
      describe(s, "permission", name);
      return s.json("permission", name);
    },
  },
  saved_datasets: {
    lineageType: "savedDataset",
    find: (_s, name) => {
      throw new LarderError(
        "NOT_FOUND",
        `Cannot find saved dataset "${name}": Larder keeps no saved datasets`,
        { details: { kind: "savedDataset", name } },
      );
    },
  },
  label_views: {
    lineageType: "featureView",
    find: (_s, name) => {
      throw new LarderError(
        "NOT_FOUND",
        `Cannot find label view "${name}": Larder has no label views`,
        { details: { kind: "labelView", name } },
      );
    },
  },
};

/** `NOT_FOUND` for a project this registry does not hold. */
function unknownProject(doc: RegistryDocument, project: string): LarderError {
  return new LarderError(
    "NOT_FOUND",
    `Cannot find project "${project}": the registry holds project "${doc.project}"`,
    { details: { kind: "project", name: project } },
  );
}

function paged(items: Json[], paging: Paging) {
  return registryPage(items, paging, sortValue);
}

/**
 * Adds the registry API's routes to `app`.
 *
 * @example
 * ```ts ignore
 * registerFeastRegistryApi(app, { lookup: context, authenticated });
 * const res = await app.request("/api/v1/entities?project=driver_project");
 * ```
 */
export function registerFeastRegistryApi(app: Hono<AppEnv>, options: RegistryApiOptions): void {
  const { authenticated } = options;
  const base = REGISTRY_API_BASE;
  const served = async (c: Context<AppEnv>) => new Served(await options.lookup(c));

  app.get(
    `${base}/projects`,
    authenticated(async (c) => {
      const paging = projectPaging(queryOf(c));
      const s = await served(c);
      const page = paged([projectJson(s.doc)], paging);
      return c.json({ projects: page.items, pagination: page.pagination });
    }),
  );
  app.get(
    `${base}/projects/:name`,
    authenticated(async (c) => {
      const s = await served(c);
      const name = c.req.param("name") ?? "";
      if (name !== s.doc.project) throw unknownProject(s.doc, name);
      return c.json(projectJson(s.doc));
    }),
  );

  for (const [segment, list] of Object.entries(LISTS)) {
    const relationships = (s: Served, objects: Json[]) =>
      list.lineageType === undefined
        ? Object.fromEntries(objects.map((o) => [nameOf(o), []]))
        : s.relationsMap(list.lineageType, objects);

    app.get(
      `${base}/${segment}`,
      authenticated(async (c) => {
        const q = queryOf(c);
        const project = required(q, "project");
        const paging = projectPaging(q);
        const withRelationships = flag(q, "include_relationships");
        flag(q, "allow_cache", true);
        const s = await served(c);
        // Feast's registry answers an unknown project's lists empty.
        const items = project === s.doc.project ? list.items(s, c) : [];
        const page = paged(items, paging);
        return c.json({
          [list.key]: page.items,
          pagination: page.pagination,
          ...(withRelationships ? { relationships: relationships(s, page.items) } : {}),
        });
      }),
    );

    app.get(
      `${base}/${segment}/all`,
      authenticated(async (c) => {
        const q = queryOf(c);
        const paging = allPaging(q);
        const withRelationships = flag(q, "include_relationships");
        flag(q, "allow_cache", true);
        const s = await served(c);
        const all = list.items(s, c).map((o) => ({ ...o, project: s.doc.project }));
        const page = allPage(all, paging);
        return c.json({
          [list.key]: page.items,
          pagination: page.pagination,
          ...(withRelationships ? { relationships: relationships(s, all) } : {}),
        });
      }),
    );

    const detail = DETAILS[segment];
    if (!detail) continue;
    app.get(
      `${base}/${segment}/:name`,
      authenticated(async (c) => {
        const q = queryOf(c);
        const project = required(q, "project");
        const withRelationships = flag(q, "include_relationships");
        flag(q, "allow_cache", true);
        const s = await served(c);
        const name = c.req.param("name") ?? "";
        if (project !== s.doc.project) throw unknownProject(s.doc, project);
        const json = detail.find(s, name);
        return c.json({
          ...json,
          ...(detail.extra ? detail.extra(s, name, json) : {}),
          ...(withRelationships
            ? {
              relationships: detail.lineageType === undefined
                ? []
                : s.relations(detail.lineageType, name),
            }
            : {}),
        });
      }),
    );
  }

  app.get(
    `${base}/features/:view/:name`,
    authenticated(async (c) => {
      const q = queryOf(c);
      const project = required(q, "project");
      const withRelationships = flag(q, "include_relationships");
      const s = await served(c);
      if (project !== s.doc.project) throw unknownProject(s.doc, project);
      const viewName = c.req.param("view") ?? "";
      const name = c.req.param("name") ?? "";
      const view = findView(s.lookup, { name: viewName, actions: DESCRIBE });
      s.lookup.access.assert([view], DESCRIBE);
      const spec = findObject(s.doc, view.type as "featureView" | "onDemandFeatureView", view.name)!
        .spec;
      const field = spec.features.find((f) => f.name === name);
      if (!field) {
        throw new LarderError(
          "NOT_FOUND",
          `Cannot find feature "${name}" in feature view "${viewName}": it has ${
            spec.features.map((f) => `"${f.name}"`).join(", ")
          }`,
          { details: { view: viewName, feature: name } },
        );
      }
      return c.json({
        ...featureJson(viewName, field),
        ...(withRelationships ? { relationships: s.relations("feature", name) } : {}),
      });
    }),
  );

  const lineageParams = (c: Context<AppEnv>) => {
    const q = queryOf(c);
    const project = required(q, "project");
    const paging = projectPaging(q);
    flag(q, "allow_cache", true);
    return { q, project, paging };
  };
  const relationPage = (relations: Relation[], paging: Paging) =>
    registryPage(relations, paging, (r, path) => atPath(r, path));

  app.get(
    `${base}/lineage/registry`,
    authenticated(async (c) => {
      const { q, project, paging } = lineageParams(c);
      const s = await served(c);
      const known = project === s.doc.project;
      const { direct, indirect } = s.catalog.lineage;
      const keep = filterOf(q);
      const d = relationPage(known ? s.related(direct).filter(keep) : [], paging);
      const i = relationPage(known ? s.related(indirect).filter(keep) : [], paging);
      return c.json({
        relationships: d.items,
        indirect_relationships: i.items,
        relationships_pagination: d.pagination,
        indirect_relationships_pagination: i.pagination,
      });
    }),
  );

  app.get(
    `${base}/lineage/objects/:type/:name`,
    authenticated(async (c) => {
      const { q, project, paging } = lineageParams(c);
      const type = c.req.param("type") ?? "";
      if (!(LINEAGE_TYPES as readonly string[]).includes(type)) {
        throw new LarderError(
          "INPUT_INVALID",
          `Invalid object_type "${type}": it must be one of ${
            LINEAGE_TYPES.map((t) => `"${t}"`).join(", ")
          }`,
          { details: { parameter: "object_type", value: type } },
        );
      }
      const includeIndirect = flag(q, "include_indirect");
      const s = await served(c);
      const relations = project === s.doc.project
        ? s.related(
          relationsOf(
            s.catalog.lineage,
            type as LineageType,
            c.req.param("name") ?? "",
            includeIndirect,
          ),
        )
        : [];
      const page = relationPage(relations, paging);
      return c.json({ relationships: page.items, pagination: page.pagination });
    }),
  );

  app.get(
    `${base}/lineage/complete`,
    authenticated(async (c) => {
      const { project, paging } = lineageParams(c);
      const s = await served(c);
      const known = project === s.doc.project;
      const { direct, indirect } = s.catalog.lineage;
      const pages = {
        entities: paged(known ? LISTS.entities!.items(s, c) : [], paging),
        dataSources: paged(known ? LISTS.data_sources!.items(s, c) : [], paging),
        featureViews: paged(known ? s.views() : [], paging),
        labelViews: paged([], paging),
        featureServices: paged(known ? LISTS.feature_services!.items(s, c) : [], paging),
        features: paged(known ? s.features() : [], paging),
        labels: paged([], paging),
        savedDatasets: paged([], paging),
      };
      const d = relationPage(known ? s.related(direct) : [], paging);
      const i = relationPage(known ? s.related(indirect) : [], paging);
      return c.json({
        project,
        objects: Object.fromEntries(Object.entries(pages).map(([k, p]) => [k, p.items])),
        relationships: d.items,
        indirectRelationships: i.items,
        pagination: {
          ...Object.fromEntries(Object.entries(pages).map(([k, p]) => [k, p.pagination])),
          relationships: d.pagination,
          indirectRelationships: i.pagination,
        },
      });
    }),
  );

  // Across projects: this registry holds one, named on each relationship and object.
  app.get(
    `${base}/lineage/registry/all`,
    authenticated(async (c) => {
      const q = queryOf(c);
      flag(q, "allow_cache", true);
      const s = await served(c);
      const { direct, indirect } = s.catalog.lineage;
      const keep = filterOf(q);
      const tagged = (rs: readonly Relation[]) =>
        s.related(rs).filter(keep).map((r) => ({ ...r, project: s.doc.project }));
      return c.json({
        relationships: tagged(direct),
        indirect_relationships: tagged(indirect),
      });
    }),
  );
  app.get(
    `${base}/lineage/complete/all`,
    authenticated(async (c) => {
      flag(queryOf(c), "allow_cache", true);
      const s = await served(c);
      const { direct, indirect } = s.catalog.lineage;
      const project = s.doc.project;
      const tag = (objects: Json[]) => objects.map((o) => ({ ...o, project }));
      return c.json({
        projects: [{
          project,
          objects: {
            entities: tag(LISTS.entities!.items(s, c)),
            dataSources: tag(LISTS.data_sources!.items(s, c)),
            featureViews: tag(s.views()),
            labelViews: [],
            featureServices: tag(LISTS.feature_services!.items(s, c)),
            features: tag(s.features()),
            labels: [],
            savedDatasets: [],
          },
          relationships: s.related(direct),
          indirectRelationships: s.related(indirect),
        }],
      });
    }),
  );

  // The API reads the registry; `apply` changes it. Feast's POST/DELETE routes are refused.
  app.on(
    ["POST", "PUT", "PATCH", "DELETE"],
    [base, `${base}/*`],
    authenticated((c) => {
      c.header("Allow", "GET, HEAD");
      throw new ApiError(
        "METHOD_NOT_ALLOWED",
        `Cannot ${c.req.method} ${c.req.path}: the registry API is read-only (change the registry with "larder apply")`,
        { details: { method: c.req.method, path: c.req.path } },
      );
    }),
  );
}
