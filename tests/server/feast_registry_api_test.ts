/**
 * Feast's registry REST API (`/api/v1`, what Feast's web UI reads) on the real app: every
 * route, the shapes compared with literal JSON written from Feast's protos and REST code (each
 * names its Feast file), pagination, sorting, filters, relationships, auth and permissions,
 * and the 405 for mutations.
 */
import assert from "node:assert/strict";
import { hashToken, TokenVerifier } from "../../server/mod.ts";
import { startServer } from "./_harness.ts";

const FEATURES = `
import {
  entity, featureService, featureView, fileSource, onDemandFeatureView, permission, pushSource,
  requestSource,
} from "larder";
export const driver = entity({
  name: "driver", joinKeys: ["driver_id"], valueType: "int64",
  description: "A driver", tags: { team: "ml" }, owner: "ml@example.com",
});
export const statsSource = fileSource({
  name: "driver_stats_source", path: "data/driver_stats", timestampField: "event_timestamp",
  createdTimestampColumn: "created",
});
export const statsPush = pushSource({ name: "driver_stats_push", batchSource: statsSource });
export const stats = featureView({
  name: "driver_hourly_stats", entities: [driver], ttl: "2h",
  schema: { conv_rate: "float32", acc_rate: "float32" }, source: statsPush,
  tags: { team: "ml" }, description: "Hourly stats", owner: "ml@example.com",
});
export const tripsSource = fileSource({
  name: "driver_trips_source", path: "data/trips/*.parquet", timestampField: "event_timestamp",
});
export const trips = featureView({
  name: "driver_trips", entities: [driver],
  schema: { trips_today: "int64", rating: "float64", tags_seen: "string[]" }, source: tripsSource,
  tags: { team: "ops" },
});
export const ratingsCsv = fileSource({
  name: "ratings_csv", path: "data/ratings.csv", timestampField: "ts",
  fieldMapping: { stars: "rating" }, tags: { format: "csv" },
});
export const req = requestSource({ name: "req", schema: { k: "float64" } });
export const scaled = onDemandFeatureView({
  name: "scaled", sources: [stats.select(["conv_rate"]), req], schema: { x: "float64" },
  transform: (c) => ({ x: c.conv_rate.map((v, i) => (v === null || c.k[i] == null ? null : v * c.k[i]!)) }),
});
export const activity = featureService({
  name: "driver_activity", features: [stats, trips.select(["rating"])], tags: { team: "ml" },
  description: "For the ranking model",
});
export const ratings = featureService({ name: "driver_ratings", features: [trips] });
export const readers = permission({
  name: "readers", types: ["featureView", "featureService"], namePatterns: ["driver_.*"],
  requiredTags: { team: "ml" }, actions: ["READ_ONLINE", "DESCRIBE"], roles: ["model"],
});
`;

// deno-lint-ignore no-explicit-any
type Json = any;

const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$/;

/** `json` with every `createdTimestamp`/`lastUpdatedTimestamp` checked and replaced by "<t>". */
function stamped(json: Json): Json {
  if (Array.isArray(json)) return json.map(stamped);
  if (json === null || typeof json !== "object") return json;
  const out: Json = {};
  for (const [key, value] of Object.entries(json)) {
    if (key === "createdTimestamp" || key === "lastUpdatedTimestamp") {
      assert.match(value as string, TIME, `${key} is an RFC 3339 UTC time`);
      out[key] = "<t>";
    } else out[key] = stamped(value);
  }
  return out;
}

const META = { createdTimestamp: "<t>", lastUpdatedTimestamp: "<t>" };

// A file source (`FileSource._to_proto_impl`, sdk/python/feast/infra/offline_stores/
// file_source.py; `DataSource.proto`): `type`, `fileOptions` (Parquet: `parquetFormat`), the
// timestamp fields, `meta` always present. The registry's copy has `project` and
// `dataSourceClassType` (`Registry.apply_data_source`, infra/registry/registry.py).
const STATS_SOURCE = {
  type: "BATCH_FILE",
  timestampField: "event_timestamp",
  createdTimestampColumn: "created",
  name: "driver_stats_source",
  project: "test_project",
  dataSourceClassType: "feast.infra.offline_stores.file_source.FileSource",
  fileOptions: { fileFormat: { parquetFormat: {} }, uri: "data/driver_stats" },
  meta: META,
};
// Embedded in a feature view: `serialize_data_source` (proto_utils.py) sets the class type, and
// no project. Embedded in a push source or a projection: neither.
const { project: _p1, ...STATS_SOURCE_IN_VIEW } = STATS_SOURCE;
const { dataSourceClassType: _c1, ...STATS_SOURCE_EMBEDDED } = STATS_SOURCE_IN_VIEW;

// `PushSource._to_proto_impl` (sdk/python/feast/data_source.py): the batch source's timestamp
// fields copied onto the push source, the batch source embedded.
const PUSH_SOURCE = {
  type: "PUSH_SOURCE",
  timestampField: "event_timestamp",
  createdTimestampColumn: "created",
  name: "driver_stats_push",
  project: "test_project",
  dataSourceClassType: "feast.data_source.PushSource",
  batchSource: STATS_SOURCE_EMBEDDED,
  meta: META,
};

// `FeatureView.to_proto_spec` (sdk/python/feast/feature_view.py; FeatureView.proto): a push
// source is the stream source and its batch source the batch source; `ttl` a Duration
// ("7200s"); `entityColumns` the join keys; `type` added by `_extract_feature_view_from_any`
// (api/registry/rest/feature_views.py).
const STATS_VIEW = {
  type: "featureView",
  spec: {
    name: "driver_hourly_stats",
    project: "test_project",
    entities: ["driver"],
    features: [{ name: "conv_rate", valueType: "FLOAT" }, { name: "acc_rate", valueType: "FLOAT" }],
    tags: { team: "ml" },
    ttl: "7200s",
    batchSource: STATS_SOURCE_IN_VIEW,
    online: true,
    streamSource: (() => {
      const { project: _p, ...inView } = PUSH_SOURCE;
      return inView;
    })(),
    description: "Hourly stats",
    owner: "ml@example.com",
    entityColumns: [{ name: "driver_id", valueType: "INT64" }],
    offline: true,
  },
  meta: META,
};

/** A server on FEATURES; `call` sends a GET (optionally with a bearer token). */
async function serve(options: { auth?: TokenVerifier } = {}) {
  const server = await startServer({ features: FEATURES, ...options });
  const get = (path: string, token?: string) =>
    server.request("GET", path, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  return { server, get };
}

const P = "project=test_project";

Deno.test("registry API answers in Feast's protobuf JSON", async (t) => {
  const { server, get } = await serve();
  try {
    await t.step("GET /api/v1/projects and /projects/{name} (Project.proto)", async () => {
      const list = await get("/api/v1/projects");
      assert.equal(list.status, 200);
      // `list_projects` (api/registry/rest/projects.py): projects and the pagination envelope;
      // unpaged, PaginationMetadata prints totalCount and totalPages 1 (registry_server.py).
      assert.deepEqual(stamped(list.json), {
        projects: [{ spec: { name: "test_project" }, meta: META }],
        pagination: { totalCount: 1, totalPages: 1 },
      });
      const one = await get("/api/v1/projects/test_project");
      assert.deepEqual(stamped(one.json), { spec: { name: "test_project" }, meta: META });
      const unknown = await get("/api/v1/projects/other");
      assert.equal(unknown.status, 404);
      assert.equal(
        unknown.json.error.message,
        'Cannot find project "other": the registry holds project "test_project"',
      );
    });

    await t.step("GET /api/v1/entities (Entity.proto: one joinKey, valueType enum)", async () => {
      const res = await get(`/api/v1/entities?${P}`);
      assert.equal(res.status, 200);
      // `Entity.to_proto` (sdk/python/feast/entity.py), `spec.project` set by the registry.
      assert.deepEqual(stamped(res.json), {
        entities: [{
          spec: {
            name: "driver",
            project: "test_project",
            valueType: "INT64",
            description: "A driver",
            joinKey: "driver_id",
            tags: { team: "ml" },
            owner: "ml@example.com",
          },
          meta: META,
        }],
        pagination: { totalCount: 1, totalPages: 1 },
      });
    });

    await t.step("GET /api/v1/entities/{name} adds its data sources", async () => {
      const res = await get(`/api/v1/entities/driver?${P}`);
      assert.equal(res.status, 200);
      const body = stamped(res.json);
      // `get_entity` (api/registry/rest/entities.py): the entity, plus `dataSources`, the
      // sources its relationships reach (entity -> data source, indirect).
      assert.deepEqual(body.spec.name, "driver");
      assert.deepEqual(body.dataSources.map((d: Json) => d.name), [
        "driver_stats_source",
        "driver_trips_source",
      ]);
      assert.deepEqual(body.dataSources[0], STATS_SOURCE);
      assert.equal(body.relationships, undefined, "only with include_relationships");
    });

    await t.step("GET /api/v1/data_sources: file, push, request and CSV sources", async () => {
      const res = await get(`/api/v1/data_sources?${P}`);
      assert.equal(res.status, 200);
      const byName = Object.fromEntries(
        stamped(res.json).dataSources.map((d: Json) => [d.name, d]),
      );
      assert.deepEqual(Object.keys(byName), [
        "driver_stats_push",
        "driver_stats_source",
        "driver_trips_source",
        "ratings_csv",
        "req",
      ]);
      assert.deepEqual(byName.driver_stats_source, STATS_SOURCE);
      assert.deepEqual(byName.driver_stats_push, PUSH_SOURCE);
      // `RequestSource._to_proto_impl` (data_source.py): the schema as FeatureSpecV2 entries.
      assert.deepEqual(byName.req, {
        type: "REQUEST_SOURCE",
        name: "req",
        project: "test_project",
        dataSourceClassType: "feast.data_source.RequestSource",
        requestDataOptions: { schema: [{ name: "k", valueType: "DOUBLE" }] },
        meta: META,
      });
      // Feast's FileFormat has no CSV: a CSV source carries no fileFormat.
      assert.deepEqual(byName.ratings_csv, {
        type: "BATCH_FILE",
        fieldMapping: { stars: "rating" },
        timestampField: "ts",
        name: "ratings_csv",
        project: "test_project",
        tags: { format: "csv" },
        dataSourceClassType: "feast.infra.offline_stores.file_source.FileSource",
        fileOptions: { uri: "data/ratings.csv" },
        meta: META,
      });
      const one = await get(`/api/v1/data_sources/driver_stats_push?${P}`);
      assert.deepEqual(stamped(one.json), PUSH_SOURCE);
      const tagged = await get(`/api/v1/data_sources?${P}&tags=format:csv`);
      assert.deepEqual(tagged.json.dataSources.map((d: Json) => d.name), ["ratings_csv"]);
    });

    await t.step("GET /api/v1/feature_views: regular views, then on-demand views", async () => {
      const res = await get(`/api/v1/feature_views?${P}`);
      assert.equal(res.status, 200);
      const views = stamped(res.json).featureViews;
      assert.deepEqual(views.map((v: Json) => [v.type, v.spec.name]), [
        ["featureView", "driver_hourly_stats"],
        ["featureView", "driver_trips"],
        ["onDemandFeatureView", "scaled"],
      ]);
      assert.deepEqual(views[0], STATS_VIEW);
      assert.deepEqual(views[1].spec.features, [
        { name: "trips_today", valueType: "INT64" },
        { name: "rating", valueType: "DOUBLE" },
        { name: "tags_seen", valueType: "STRING_LIST" },
      ]);
      assert.equal(views[1].spec.ttl, "0s", "ttl 0 (unlimited) is a set Duration of 0s");
      assert.equal(views[1].spec.streamSource, undefined);
      const detail = await get(`/api/v1/feature_views/driver_hourly_stats?${P}`);
      assert.deepEqual(stamped(detail.json), STATS_VIEW);
    });

    await t.step(
      "GET /api/v1/feature_views/{on-demand}: sources and the transform's text",
      async () => {
        const res = await get(`/api/v1/feature_views/scaled?${P}`);
        assert.equal(res.status, 200);
        const body = stamped(res.json);
        const text = body.spec.featureTransformation.userDefinedFunction.bodyText as string;
        assert.match(text, /c\.conv_rate\.map\(\(v, i\)\s*=>/);
        body.spec.featureTransformation.userDefinedFunction.bodyText = "<text>";
        // `OnDemandFeatureView.to_proto` (sdk/python/feast/on_demand_feature_view.py): sources
        // keyed by name, a view as a FeatureViewProjection (`FeatureViewProjection.to_proto`,
        // feature_view_projection.py, with its batch source), a request source as itself; the
        // transform as a UserDefinedFunctionV2 (Transformation.proto) whose bodyText Feast's UI
        // shows (OnDemandFeatureViewOverviewTab.tsx).
        assert.deepEqual(body, {
          type: "onDemandFeatureView",
          spec: {
            name: "scaled",
            project: "test_project",
            features: [{ name: "x", valueType: "DOUBLE" }],
            sources: {
              driver_hourly_stats: {
                featureViewProjection: {
                  featureViewName: "driver_hourly_stats",
                  featureColumns: [{ name: "conv_rate", valueType: "FLOAT" }],
                  batchSource: STATS_SOURCE_EMBEDDED,
                },
              },
              req: {
                requestDataSource: {
                  type: "REQUEST_SOURCE",
                  name: "req",
                  requestDataOptions: { schema: [{ name: "k", valueType: "DOUBLE" }] },
                  meta: META,
                },
              },
            },
            featureTransformation: {
              userDefinedFunction: { name: "scaled", bodyText: "<text>", mode: "typescript" },
            },
            mode: "typescript",
          },
          meta: META,
        });
      },
    );

    await t.step("GET /api/v1/feature_services (FeatureService.proto projections)", async () => {
      const res = await get(`/api/v1/feature_services/driver_activity?${P}`);
      assert.equal(res.status, 200);
      // `FeatureService.to_proto` (sdk/python/feast/feature_service.py): one
      // FeatureViewProjection per view with the columns used.
      assert.deepEqual(stamped(res.json), {
        spec: {
          name: "driver_activity",
          project: "test_project",
          features: [
            {
              featureViewName: "driver_hourly_stats",
              featureColumns: [
                { name: "conv_rate", valueType: "FLOAT" },
                { name: "acc_rate", valueType: "FLOAT" },
              ],
              batchSource: STATS_SOURCE_EMBEDDED,
            },
            {
              featureViewName: "driver_trips",
              featureColumns: [{ name: "rating", valueType: "DOUBLE" }],
              batchSource: {
                type: "BATCH_FILE",
                timestampField: "event_timestamp",
                name: "driver_trips_source",
                fileOptions: { fileFormat: { parquetFormat: {} }, uri: "data/trips/*.parquet" },
                meta: META,
              },
            },
          ],
          tags: { team: "ml" },
          description: "For the ranking model",
        },
        meta: META,
      });
      const list = await get(`/api/v1/feature_services?${P}&feature_view=driver_hourly_stats`);
      assert.deepEqual(list.json.featureServices.map((s: Json) => s.spec.name), [
        "driver_activity",
      ]);
    });

    await t.step("GET /api/v1/permissions (Permission.proto, role-based policy)", async () => {
      const res = await get(`/api/v1/permissions?${P}`);
      assert.equal(res.status, 200);
      // `Permission.to_proto` (sdk/python/feast/permissions/permission.py): enum names, the
      // zero values (FEATURE_VIEW) included in repeated fields.
      const readers = {
        spec: {
          name: "readers",
          project: "test_project",
          types: ["FEATURE_VIEW", "FEATURE_SERVICE"],
          namePatterns: ["driver_.*"],
          requiredTags: { team: "ml" },
          actions: ["DESCRIBE", "READ_ONLINE"],
          policy: { roleBasedPolicy: { roles: ["model"] } },
        },
        meta: META,
      };
      assert.deepEqual(stamped(res.json), {
        permissions: [readers],
        pagination: { totalCount: 1, totalPages: 1 },
      });
      const one = await get(`/api/v1/permissions/readers?${P}&include_relationships=true`);
      assert.deepEqual(stamped(one.json), { ...readers, relationships: [] });
    });

    await t.step("GET /api/v1/features and /features/{view}/{name}", async () => {
      const res = await get(`/api/v1/features?${P}&feature_view=driver_trips`);
      // `ListFeatures` (registry_server.py): name, view, `str(dtype)`, kind.
      assert.deepEqual(res.json, {
        features: [
          { name: "trips_today", featureView: "driver_trips", type: "Int64", kind: "feature" },
          { name: "rating", featureView: "driver_trips", type: "Float64", kind: "feature" },
          {
            name: "tags_seen",
            featureView: "driver_trips",
            type: "Array(String)",
            kind: "feature",
          },
        ],
        pagination: { totalCount: 3, totalPages: 1 },
      });
      const one = await get(`/api/v1/features/scaled/x?${P}`);
      assert.deepEqual(one.json, {
        name: "x",
        featureView: "scaled",
        type: "Float64",
        kind: "feature",
      });
      const missing = await get(`/api/v1/features/scaled/y?${P}`);
      assert.equal(missing.status, 404);
      assert.equal(
        missing.json.error.message,
        'Cannot find feature "y" in feature view "scaled": it has "x"',
      );
    });

    await t.step("saved datasets and label views: Larder has none", async () => {
      for (
        const [path, key] of [["saved_datasets", "savedDatasets"], ["label_views", "featureViews"]]
      ) {
        const list = await get(`/api/v1/${path}?${P}&include_relationships=true`);
        assert.deepEqual(list.json, { [key!]: [], pagination: {}, relationships: {} });
        const all = await get(`/api/v1/${path}/all`);
        assert.deepEqual(all.json, { [key!]: [], pagination: { page: 1, limit: 50 } });
        const one = await get(`/api/v1/${path}/x?${P}`);
        assert.equal(one.status, 404);
      }
    });
  } finally {
    await server.close();
  }
});

Deno.test("registry API pages and sorts as Feast's registry server and REST layer do", async (t) => {
  const { server, get } = await serve();
  const names = (json: Json, key: string) =>
    json[key].map((o: Json) => o.spec?.name ?? o.name) as string[];
  try {
    await t.step("project lists: paged only with page and limit", async () => {
      // `apply_pagination_and_sorting` (sdk/python/feast/registry_server.py).
      const page2 = await get(`/api/v1/data_sources?${P}&page=2&limit=2`);
      assert.deepEqual(names(page2.json, "dataSources"), ["driver_trips_source", "ratings_csv"]);
      assert.deepEqual(page2.json.pagination, {
        page: 2,
        limit: 2,
        totalCount: 5,
        totalPages: 3,
        hasNext: true,
        hasPrevious: true,
      });
      const last = await get(`/api/v1/data_sources?${P}&page=3&limit=2`);
      assert.deepEqual(last.json.pagination, {
        page: 3,
        limit: 2,
        totalCount: 5,
        totalPages: 3,
        hasPrevious: true,
      });
      const beyond = await get(`/api/v1/data_sources?${P}&page=9&limit=2`);
      assert.deepEqual(beyond.json.dataSources, []);
      const pageOnly = await get(`/api/v1/data_sources?${P}&page=2`);
      assert.equal(pageOnly.json.dataSources.length, 5, "no limit: not paged");
      assert.deepEqual(pageOnly.json.pagination, { totalCount: 5, totalPages: 1 });
    });

    await t.step("sort_by a Python attribute or a JSON path, sort_order asc/desc", async () => {
      const desc = await get(`/api/v1/feature_views?${P}&sort_by=name&sort_order=desc`);
      assert.deepEqual(names(desc.json, "featureViews"), [
        "scaled",
        "driver_trips",
        "driver_hourly_stats",
      ]);
      const path = await get(`/api/v1/feature_views?${P}&sort_by=spec.name&sort_order=desc`);
      assert.deepEqual(names(path.json, "featureViews"), names(desc.json, "featureViews"));
      // An unknown key sorts nothing (every value is missing): the registry's order stays.
      const unknown = await get(`/api/v1/feature_views?${P}&sort_by=nope&sort_order=desc`);
      assert.deepEqual(names(unknown.json, "featureViews"), [
        "driver_hourly_stats",
        "driver_trips",
        "scaled",
      ]);
    });

    await t.step("sort_by a name of Object.prototype is an unknown key, not a 500", async () => {
      for (const key of ["constructor", "toString", "__proto__", "hasOwnProperty", "valueOf"]) {
        for (
          const [path, list] of [
            [`/api/v1/entities?${P}&sort_by=${key}`, "entities"],
            [`/api/v1/feature_views?${P}&sort_by=${key}&sort_order=desc`, "featureViews"],
            [`/api/v1/entities/all?sort_by=${key}`, "entities"],
            [`/api/v1/feature_views/all?sort_by=${key}&sort_order=desc`, "featureViews"],
            [`/api/v1/lineage/registry?${P}&sort_by=${key}`, "relationships"],
          ]
        ) {
          const res = await get(path!);
          assert.equal(res.status, 200, `${path}: ${res.text.slice(0, 200)}`);
          assert.ok(res.json[list!].length > 0, path);
        }
      }
      const views = await get(`/api/v1/feature_views/all?sort_by=constructor&sort_order=desc`);
      assert.deepEqual(names(views.json, "featureViews"), [
        "driver_hourly_stats",
        "driver_trips",
        "scaled",
      ]);
    });

    await t.step("/all lists: always paged (page 1, limit 50), objects carry project", async () => {
      // `aggregate_across_projects` and `paginate_and_sort` (api/registry/rest/rest_utils.py).
      const all = await get("/api/v1/feature_services/all");
      assert.deepEqual(all.json.pagination, { page: 1, limit: 50, totalCount: 2, totalPages: 1 });
      assert.deepEqual(all.json.featureServices.map((s: Json) => s.project), [
        "test_project",
        "test_project",
      ]);
      const paged = await get("/api/v1/entities/all?limit=1&page=1");
      assert.deepEqual(paged.json.pagination, {
        page: 1,
        limit: 1,
        totalCount: 1,
        totalPages: 1,
      });
      const sorted = await get("/api/v1/data_sources/all?sort_by=name&sort_order=desc&limit=2");
      assert.deepEqual(names(sorted.json, "dataSources"), ["req", "ratings_csv"]);
      assert.deepEqual(sorted.json.pagination, {
        page: 1,
        limit: 2,
        totalCount: 5,
        totalPages: 3,
        hasNext: true,
      });
    });

    await t.step("bad parameters answer 422 naming the parameter", async () => {
      const cases: [string, string][] = [
        ["/api/v1/entities", 'Missing query parameter "project"'],
        ["/api/v1/entities/driver", 'Missing query parameter "project"'],
        [
          `/api/v1/entities?${P}&limit=101`,
          'Invalid query parameter "limit": expected an integer from 1 to 100, got "101"',
        ],
        [
          `/api/v1/entities?${P}&page=0`,
          'Invalid query parameter "page": expected an integer at least 1, got "0"',
        ],
        [
          `/api/v1/entities?${P}&sort_order=up`,
          'Invalid query parameter "sort_order": expected "asc" or "desc", got "up"',
        ],
        [
          `/api/v1/entities?${P}&include_relationships=maybe`,
          'Invalid query parameter "include_relationships": expected a boolean (true or false), got "maybe"',
        ],
        [
          `/api/v1/feature_views?${P}&updated_since=yesterday`,
          'Invalid query parameter "updated_since": expected an ISO 8601 timestamp (e.g. 2024-01-01T00:00:00Z), got "yesterday"',
        ],
        // Read as every timestamp of the server is: no lenient parsing, no rolling over.
        [
          `/api/v1/feature_views?${P}&updated_since=1`,
          'Invalid query parameter "updated_since": expected an ISO 8601 timestamp (e.g. 2024-01-01T00:00:00Z), got "1"',
        ],
        [
          `/api/v1/feature_views?${P}&updated_since=2024-02-30`,
          'Invalid query parameter "updated_since": expected an ISO 8601 timestamp (e.g. 2024-01-01T00:00:00Z), got "2024-02-30": February 2024 has 29 days',
        ],
        [
          `/api/v1/feature_views?${P}&updated_since=2024-01-01T24:00:00Z`,
          'Invalid query parameter "updated_since": expected an ISO 8601 timestamp (e.g. 2024-01-01T00:00:00Z), got "2024-01-01T24:00:00Z": hour 24 is not accepted: write 00:00:00 of the next day',
        ],
        [
          `/api/v1/lineage/objects/table/x?${P}`,
          'Invalid object_type "table": it must be one of "dataSource", "entity", "featureView", "featureService", "feature", "savedDataset"',
        ],
      ];
      for (const [path, message] of cases) {
        const res = await get(path);
        assert.equal(res.status, 422, path);
        assert.equal(res.json.error.code, "INPUT_INVALID");
        assert.equal(res.json.error.message, message);
      }
    });

    await t.step("an unknown project: lists are empty (as Feast's), details 404", async () => {
      const list = await get("/api/v1/feature_views?project=other");
      assert.deepEqual(list.json, { featureViews: [], pagination: {} });
      const lineage = await get("/api/v1/lineage/registry?project=other");
      assert.equal(lineage.status, 200);
      assert.deepEqual(lineage.json.relationships, []);
      for (const path of ["entities/driver", "feature_views/driver_trips", "permissions/readers"]) {
        const res = await get(`/api/v1/${path}?project=other`);
        assert.equal(res.status, 404, path);
        assert.equal(res.json.error.code, "NOT_FOUND");
      }
    });

    await t.step("feature view filters: entity, feature, service, source, tags, time", async () => {
      const filtered = async (query: string) =>
        names((await get(`/api/v1/feature_views?${P}&${query}`)).json, "featureViews");
      assert.deepEqual(await filtered("entity=driver"), ["driver_hourly_stats", "driver_trips"]);
      assert.deepEqual(await filtered("feature=x"), ["scaled"]);
      assert.deepEqual(await filtered("feature_service=driver_ratings"), ["driver_trips"]);
      assert.deepEqual(await filtered("feature_service=nope"), []);
      assert.deepEqual(await filtered("data_source=driver_stats_push"), ["driver_hourly_stats"]);
      assert.deepEqual(await filtered("data_source=req"), ["scaled"]);
      assert.deepEqual(await filtered("tags=team:ops"), ["driver_trips"]);
      assert.deepEqual(await filtered("tags=team:ops&tags=x:y"), []);
      assert.deepEqual((await filtered("updated_since=2000-01-01T00:00:00Z")).length, 3);
      assert.deepEqual(await filtered("updated_since=2999-01-01"), []);
      assert.deepEqual(await filtered("updated_since=2999-01-01T00:00:00%2B01:00"), []);
      assert.equal((await filtered("updated_since=2000-01-01 00:00")).length, 3);
    });
  } finally {
    await server.close();
  }
});

/** A relation, written as `"type:name -> type:name"`. */
function arrow(r: Json): string {
  return `${r.source.type}:${r.source.name} -> ${r.target.type}:${r.target.name}`;
}

Deno.test("registry API relationships follow Feast's lineage generator", async (t) => {
  const { server, get } = await serve();
  try {
    await t.step("GET /api/v1/lineage/registry: direct and indirect", async () => {
      const res = await get(`/api/v1/lineage/registry?${P}`);
      assert.equal(res.status, 200);
      // `RegistryLineageGenerator` (sdk/python/feast/lineage/registry_lineage.py): a view into
      // each service using it; an entity, each feature and the batch source into a view (a
      // push source's batch source: stream sources count for stream views only); an on-demand
      // view's features, request sources and upstream views into it.
      assert.deepEqual(res.json.relationships.map(arrow), [
        "featureView:driver_hourly_stats -> featureService:driver_activity",
        "featureView:driver_trips -> featureService:driver_activity",
        "featureView:driver_trips -> featureService:driver_ratings",
        "entity:driver -> featureView:driver_hourly_stats",
        "feature:conv_rate -> featureView:driver_hourly_stats",
        "feature:acc_rate -> featureView:driver_hourly_stats",
        "dataSource:driver_stats_source -> featureView:driver_hourly_stats",
        "entity:driver -> featureView:driver_trips",
        "feature:trips_today -> featureView:driver_trips",
        "feature:rating -> featureView:driver_trips",
        "feature:tags_seen -> featureView:driver_trips",
        "dataSource:driver_trips_source -> featureView:driver_trips",
        "feature:x -> featureView:scaled",
        "featureView:driver_hourly_stats -> featureView:scaled",
        "dataSource:req -> featureView:scaled",
      ]);
      // Indirect: whatever feeds a view feeds the services using it; an entity reaches its
      // views' sources.
      assert.deepEqual(res.json.indirect_relationships.map(arrow), [
        "entity:driver -> featureService:driver_activity",
        "feature:conv_rate -> featureService:driver_activity",
        "feature:acc_rate -> featureService:driver_activity",
        "dataSource:driver_stats_source -> featureService:driver_activity",
        "entity:driver -> featureService:driver_activity",
        "feature:trips_today -> featureService:driver_activity",
        "feature:rating -> featureService:driver_activity",
        "feature:tags_seen -> featureService:driver_activity",
        "dataSource:driver_trips_source -> featureService:driver_activity",
        "entity:driver -> featureService:driver_ratings",
        "feature:trips_today -> featureService:driver_ratings",
        "feature:rating -> featureService:driver_ratings",
        "feature:tags_seen -> featureService:driver_ratings",
        "dataSource:driver_trips_source -> featureService:driver_ratings",
        "entity:driver -> dataSource:driver_stats_source",
        "entity:driver -> dataSource:driver_trips_source",
      ]);
      assert.deepEqual(res.json.relationships_pagination, { totalCount: 15, totalPages: 1 });
      const filtered = await get(
        `/api/v1/lineage/registry?${P}&filter_object_type=featureService&filter_object_name=driver_ratings&limit=10&page=1`,
      );
      assert.deepEqual(filtered.json.relationships.map(arrow), [
        "featureView:driver_trips -> featureService:driver_ratings",
      ]);
      assert.equal(filtered.json.indirect_relationships.length, 5);
      assert.deepEqual(filtered.json.indirect_relationships_pagination, {
        page: 1,
        limit: 10,
        totalCount: 5,
        totalPages: 1,
      });
    });

    await t.step("include_relationships on a list: by name, direct then indirect", async () => {
      const res = await get(`/api/v1/feature_services?${P}&include_relationships=true`);
      // `get_relationships_for_objects` (rest_utils.py) with include_indirect.
      assert.deepEqual(Object.keys(res.json.relationships), ["driver_activity", "driver_ratings"]);
      assert.deepEqual(res.json.relationships.driver_ratings.map(arrow), [
        "featureView:driver_trips -> featureService:driver_ratings",
        "entity:driver -> featureService:driver_ratings",
        "feature:trips_today -> featureService:driver_ratings",
        "feature:rating -> featureService:driver_ratings",
        "feature:tags_seen -> featureService:driver_ratings",
        "dataSource:driver_trips_source -> featureService:driver_ratings",
      ]);
      const detail = await get(
        `/api/v1/data_sources/req?${P}&include_relationships=true`,
      );
      assert.deepEqual(detail.json.relationships.map(arrow), [
        "dataSource:req -> featureView:scaled",
      ]);
      const all = await get("/api/v1/feature_views/all?include_relationships=true");
      assert.deepEqual(Object.keys(all.json.relationships), [
        "driver_hourly_stats",
        "driver_trips",
        "scaled",
      ]);
    });

    await t.step("GET /api/v1/lineage/objects/{type}/{name}", async () => {
      const direct = await get(`/api/v1/lineage/objects/entity/driver?${P}`);
      assert.deepEqual(direct.json, {
        relationships: [
          {
            source: { type: "entity", name: "driver" },
            target: { type: "featureView", name: "driver_hourly_stats" },
          },
          {
            source: { type: "entity", name: "driver" },
            target: { type: "featureView", name: "driver_trips" },
          },
        ],
        pagination: { totalCount: 2, totalPages: 1 },
      });
      const indirect = await get(
        `/api/v1/lineage/objects/entity/driver?${P}&include_indirect=true&sort_by=target.name&sort_order=desc&page=1&limit=3`,
      );
      // Descending target names: "driver_trips_source" > "driver_trips" > "driver_stats_source".
      assert.deepEqual(indirect.json.relationships.map(arrow), [
        "entity:driver -> dataSource:driver_trips_source",
        "entity:driver -> featureView:driver_trips",
        "entity:driver -> dataSource:driver_stats_source",
      ]);
      assert.equal(indirect.json.pagination.totalCount, 7);
    });

    await t.step("GET /api/v1/lineage/registry/all and /lineage/complete/all", async () => {
      // `get_registry_lineage_all` and `get_complete_registry_data_all` (rest/lineage.py): every
      // project's relationships, each naming its project.
      const all = await get("/api/v1/lineage/registry/all");
      assert.equal(all.json.relationships.length, 15);
      assert.equal(all.json.indirect_relationships.length, 16);
      assert.deepEqual(all.json.relationships[0], {
        source: { type: "featureView", name: "driver_hourly_stats" },
        target: { type: "featureService", name: "driver_activity" },
        project: "test_project",
      });
      const complete = await get("/api/v1/lineage/complete/all");
      assert.equal(complete.json.projects.length, 1);
      assert.equal(complete.json.projects[0].project, "test_project");
      assert.equal(complete.json.projects[0].objects.entities[0].project, "test_project");
      assert.equal(complete.json.projects[0].indirectRelationships.length, 16);
    });

    await t.step("GET /api/v1/lineage/complete: every object and the relationships", async () => {
      const res = await get(`/api/v1/lineage/complete?${P}`);
      assert.equal(res.status, 200);
      // `get_complete_registry_data` (api/registry/rest/lineage.py).
      assert.equal(res.json.project, "test_project");
      assert.deepEqual(Object.keys(res.json.objects), [
        "entities",
        "dataSources",
        "featureViews",
        "labelViews",
        "featureServices",
        "features",
        "labels",
        "savedDatasets",
      ]);
      assert.equal(res.json.objects.featureViews.length, 3);
      assert.equal(res.json.objects.features.length, 6);
      assert.equal(res.json.relationships.length, 15);
      assert.equal(res.json.indirectRelationships.length, 16);
      assert.deepEqual(res.json.pagination.entities, { totalCount: 1, totalPages: 1 });
      assert.deepEqual(res.json.pagination.labelViews, {});
    });
  } finally {
    await server.close();
  }
});

Deno.test("registry API refuses every mutation with 405", async () => {
  const { server } = await serve();
  try {
    // Feast's write routes (POST /entities, /feature_views, …; DELETE /{kind}/{name};
    // POST /registry/refresh) and anything else but GET.
    const cases: [string, string][] = [
      ["POST", "/api/v1/entities"],
      ["DELETE", "/api/v1/entities/driver?project=test_project"],
      ["POST", "/api/v1/feature_views"],
      ["PUT", "/api/v1/feature_services/driver_activity"],
      ["PATCH", "/api/v1/permissions/readers"],
      ["POST", "/api/v1/saved_datasets"],
      ["POST", "/api/v1/registry/refresh"],
    ];
    for (const [method, path] of cases) {
      const res = await server.request(method, path, {
        body: { name: "x", project: "test_project" },
      });
      assert.equal(res.status, 405, `${method} ${path}`);
      assert.equal(res.headers.get("allow"), "GET, HEAD");
      assert.deepEqual(res.json.error, {
        code: "METHOD_NOT_ALLOWED",
        message: `Cannot ${method} ${
          path.split("?")[0]
        }: the registry API is read-only (change the registry with "larder apply")`,
        details: { method, path: path.split("?")[0] },
      });
    }
    const after = await server.request("GET", "/api/v1/entities?project=test_project");
    assert.equal(after.json.entities.length, 1, "nothing changed");
  } finally {
    await server.close();
  }
});

async function tokens() {
  return new TokenVerifier([
    { name: "model", sha256: await hashToken("model-key"), roles: ["model"] },
    { name: "ops", sha256: await hashToken("ops-key"), roles: ["ops"] },
    { name: "nobody", sha256: await hashToken("nobody-key"), roles: [] },
  ]);
}

Deno.test("registry API: same auth as every route, DESCRIBE decides what is seen", async (t) => {
  // "readers" (FEATURES): role "model" may DESCRIBE (and READ_ONLINE) views and services named
  // driver_* tagged team=ml: driver_hourly_stats and driver_activity. Nothing else is granted.
  const { server, get } = await serve({ auth: await tokens() });
  try {
    await t.step("no token or a wrong one: 401 (the UI then asks for a token)", async () => {
      for (
        const path of [`/api/v1/entities?${P}`, "/api/v1/projects", `/api/v1/lineage/complete?${P}`]
      ) {
        const none = await get(path);
        assert.equal(none.status, 401, path);
        assert.equal(none.json.error.code, "UNAUTHENTICATED");
        assert.equal(none.headers.get("www-authenticate"), 'Bearer realm="larder"');
        assert.equal((await get(path, "guess")).status, 401);
      }
      const mutation = await server.request("POST", "/api/v1/entities");
      assert.equal(mutation.status, 401, "authentication comes before the refusal");
    });

    await t.step("lists hold only what the caller may describe", async () => {
      const views = await get(`/api/v1/feature_views?${P}`, "model-key");
      assert.deepEqual(views.json.featureViews.map((v: Json) => v.spec.name), [
        "driver_hourly_stats",
      ]);
      assert.deepEqual(views.json.pagination, { totalCount: 1, totalPages: 1 });
      const services = await get("/api/v1/feature_services/all", "model-key");
      assert.deepEqual(services.json.featureServices.map((s: Json) => s.spec.name), [
        "driver_activity",
      ]);
      for (const token of ["nobody-key", "ops-key"]) {
        const none = await get(`/api/v1/feature_views?${P}`, token);
        assert.deepEqual(none.json, { featureViews: [], pagination: {} });
        const entities = await get(`/api/v1/entities?${P}`, token);
        assert.deepEqual(entities.json.entities, []);
        const features = await get(`/api/v1/features?${P}`, token);
        assert.deepEqual(features.json.features, []);
      }
    });

    await t.step("a hidden object answers exactly like an unknown one", async () => {
      const hidden = await get(`/api/v1/feature_views/driver_trips?${P}`, "model-key");
      const unknown = await get(`/api/v1/feature_views/no_such_view?${P}`, "model-key");
      assert.equal(hidden.status, 404);
      assert.equal(unknown.status, 404);
      assert.equal(
        hidden.json.error.message,
        'Cannot find feature view "driver_trips": the registry has "driver_hourly_stats"',
      );
      assert.equal(
        hidden.json.error.message.replace("driver_trips", "no_such_view"),
        unknown.json.error.message,
      );
      const entity = await get(`/api/v1/entities/driver?${P}`, "nobody-key");
      assert.equal(entity.status, 404);
      assert.equal(entity.json.error.message, 'Cannot find entity "driver": the registry has none');
      const feature = await get(`/api/v1/features/driver_trips/rating?${P}`, "model-key");
      assert.equal(feature.status, 404);
    });

    await t.step("the caller's own objects: 200", async () => {
      const view = await get(
        `/api/v1/feature_views/driver_hourly_stats?${P}&include_relationships=true`,
        "model-key",
      );
      assert.equal(view.status, 200);
      assert.equal(view.json.spec.name, "driver_hourly_stats");
      // Relationships name only what the caller may see (features go with their view): not the
      // entity, the source, the on-demand view "scaled" (all undescribable).
      assert.deepEqual(view.json.relationships.map(arrow), [
        "featureView:driver_hourly_stats -> featureService:driver_activity",
        "feature:conv_rate -> featureView:driver_hourly_stats",
        "feature:acc_rate -> featureView:driver_hourly_stats",
      ]);
      const lineage = await get(`/api/v1/lineage/registry?${P}`, "model-key");
      assert.deepEqual(lineage.json.relationships.map(arrow), [
        "featureView:driver_hourly_stats -> featureService:driver_activity",
        "feature:conv_rate -> featureView:driver_hourly_stats",
        "feature:acc_rate -> featureView:driver_hourly_stats",
      ]);
      const permissions = await get(`/api/v1/permissions?${P}`, "model-key");
      assert.deepEqual(permissions.json.permissions, [], "no DESCRIBE on permissions");
    });
  } finally {
    await server.close();
  }
});

// "model" may also DESCRIBE the on-demand view and the push source, not what they embed.
const PARTLY_HIDDEN = FEATURES + `
export const odfvReaders = permission({
  name: "odfv_readers", types: ["onDemandFeatureView"], namePatterns: ["scaled"],
  actions: ["DESCRIBE"], roles: ["model"],
});
export const pushReaders = permission({
  name: "push_readers", types: ["dataSource"], namePatterns: ["driver_stats_push"],
  actions: ["DESCRIBE"], roles: ["model"],
});
export const admins = permission({
  name: "admins",
  types: ["entity", "dataSource", "featureView", "onDemandFeatureView", "featureService", "permission"],
  actions: ["DESCRIBE"], roles: ["admin"],
});
`;

/** What "model" may not DESCRIBE in PARTLY_HIDDEN, as it would appear in an answer's text. */
const HIDDEN_TEXT = [
  "driver_trips", // a view of driver_activity; driver_trips_source too
  '"trips_today"',
  '"rating"',
  '"tags_seen"',
  "driver_stats_source", // the batch source of driver_hourly_stats and driver_stats_push
  "data/", // the file sources' paths
  "driver_ratings",
  "ratings_csv",
  '"req"', // the request source of "scaled"
  '"driver"', // the entity
  "readers", // the permissions
];

Deno.test("registry API: nothing the caller may not describe appears, embedded or related", async (t) => {
  const auth = new TokenVerifier([
    { name: "model", sha256: await hashToken("model-key"), roles: ["model"] },
    { name: "admin", sha256: await hashToken("admin-key"), roles: ["admin"] },
  ]);
  const server = await startServer({ features: PARTLY_HIDDEN, auth });
  const get = (path: string) =>
    server.request("GET", path, { headers: { authorization: "Bearer model-key" } });
  const R = "include_relationships=true";
  try {
    await t.step("a service's projection of a hidden view is left out", async () => {
      const res = await get(`/api/v1/feature_services/driver_activity?${P}&${R}`);
      assert.equal(res.status, 200);
      // Its visible view's projection, without the view's (hidden) batch source.
      assert.deepEqual(res.json.spec.features, [{
        featureViewName: "driver_hourly_stats",
        featureColumns: [
          { name: "conv_rate", valueType: "FLOAT" },
          { name: "acc_rate", valueType: "FLOAT" },
        ],
      }]);
      // No relationship through driver_trips (its features reach the service indirectly).
      assert.deepEqual(res.json.relationships.map(arrow), [
        "featureView:driver_hourly_stats -> featureService:driver_activity",
        "feature:conv_rate -> featureService:driver_activity",
        "feature:acc_rate -> featureService:driver_activity",
      ]);
    });

    await t.step(
      "a view's hidden entity and sources are left out; its push source's batch source too",
      async () => {
        const view = await get(`/api/v1/feature_views/driver_hourly_stats?${P}`);
        assert.equal(view.status, 200);
        const spec = stamped(view.json.spec);
        assert.equal(spec.entities, undefined, "the entity is hidden");
        assert.deepEqual(spec.entityColumns, [{ name: "driver_id", valueType: "INT64" }]);
        assert.equal(spec.batchSource, undefined);
        assert.deepEqual(spec.streamSource, {
          type: "PUSH_SOURCE",
          timestampField: "event_timestamp",
          createdTimestampColumn: "created",
          name: "driver_stats_push",
          dataSourceClassType: "feast.data_source.PushSource",
          meta: META,
        });
        const push = await get(`/api/v1/data_sources/driver_stats_push?${P}`);
        assert.equal(push.status, 200);
        assert.equal(push.json.batchSource, undefined);
        const batch = await get(`/api/v1/data_sources/driver_stats_source?${P}`);
        assert.equal(batch.status, 404, "its own route hides it: so does every answer");
      },
    );

    await t.step(
      "an on-demand view's hidden request source is left out of its sources",
      async () => {
        const res = await get(`/api/v1/feature_views/scaled?${P}`);
        assert.equal(res.status, 200);
        assert.deepEqual(res.json.spec.sources, {
          driver_hourly_stats: {
            featureViewProjection: {
              featureViewName: "driver_hourly_stats",
              featureColumns: [{ name: "conv_rate", valueType: "FLOAT" }],
            },
          },
        });
      },
    );

    await t.step("filters match only what the caller may see", async () => {
      const views = async (query: string) =>
        (await get(`/api/v1/feature_views?${P}&${query}`)).json.featureViews
          .map((v: Json) => v.spec.name);
      assert.deepEqual(await views("data_source=driver_stats_push"), ["driver_hourly_stats"]);
      assert.deepEqual(await views("data_source=driver_stats_source"), []);
      assert.deepEqual(await views("data_source=req"), []);
      assert.deepEqual(await views("entity=driver"), []);
      const services = await get(`/api/v1/feature_services?${P}&feature_view=driver_trips`);
      assert.deepEqual(services.json.featureServices, []);
    });

    await t.step("no answer names a hidden object, anywhere", async () => {
      const paths = [
        `/api/v1/entities?${P}&${R}`,
        `/api/v1/entities/all?${R}`,
        `/api/v1/data_sources?${P}&${R}`,
        `/api/v1/data_sources/all?${R}`,
        `/api/v1/data_sources/driver_stats_push?${P}&${R}`,
        `/api/v1/feature_views?${P}&${R}`,
        `/api/v1/feature_views/all?${R}`,
        `/api/v1/feature_views/driver_hourly_stats?${P}&${R}`,
        `/api/v1/feature_views/scaled?${P}&${R}`,
        `/api/v1/feature_services?${P}&${R}`,
        `/api/v1/feature_services/all?${R}`,
        `/api/v1/feature_services/driver_activity?${P}&${R}`,
        `/api/v1/features?${P}&${R}`,
        `/api/v1/features/all?${R}`,
        `/api/v1/features/driver_hourly_stats/conv_rate?${P}&${R}`,
        `/api/v1/permissions?${P}`,
        `/api/v1/lineage/registry?${P}`,
        `/api/v1/lineage/registry/all`,
        `/api/v1/lineage/complete?${P}`,
        `/api/v1/lineage/complete/all`,
        `/api/v1/lineage/objects/featureService/driver_activity?${P}&include_indirect=true`,
        `/api/v1/lineage/objects/featureView/driver_hourly_stats?${P}&include_indirect=true`,
        `/api/v1/lineage/objects/feature/rating?${P}&include_indirect=true`,
        `/api/v1/lineage/objects/dataSource/driver_stats_source?${P}&include_indirect=true`,
      ];
      for (const path of paths) {
        const res = await get(path);
        assert.equal(res.status, 200, `${path}: ${res.text.slice(0, 200)}`);
        for (const hidden of HIDDEN_TEXT) {
          assert.ok(!res.text.includes(hidden), `${path} shows ${hidden}: ${res.text}`);
        }
      }
      // What the caller may see is all there.
      const complete = (await get(`/api/v1/lineage/complete?${P}`)).json;
      assert.deepEqual(
        Object.fromEntries(
          Object.entries(complete.objects).map(([k, v]) => [
            k,
            (v as Json[]).map((o) => o.spec?.name ?? o.name),
          ]),
        ),
        {
          entities: [],
          dataSources: ["driver_stats_push"],
          featureViews: ["driver_hourly_stats", "scaled"],
          labelViews: [],
          featureServices: ["driver_activity"],
          features: ["conv_rate", "acc_rate", "x"],
          labels: [],
          savedDatasets: [],
        },
      );
      assert.deepEqual(complete.relationships.map(arrow), [
        "featureView:driver_hourly_stats -> featureService:driver_activity",
        "feature:conv_rate -> featureView:driver_hourly_stats",
        "feature:acc_rate -> featureView:driver_hourly_stats",
        "feature:x -> featureView:scaled",
        "featureView:driver_hourly_stats -> featureView:scaled",
      ]);
    });

    await t.step("answers are per caller: one who may see everything gets it all", async () => {
      const asAdmin = () =>
        server.request("GET", `/api/v1/feature_services/driver_activity?${P}`, {
          headers: { authorization: "Bearer admin-key" },
        });
      const views = (json: Json) =>
        json.spec.features.map((p: Json) => `${p.featureViewName} ${p.batchSource?.name}`);
      const full = ["driver_hourly_stats driver_stats_source", "driver_trips driver_trips_source"];
      assert.deepEqual(views((await asAdmin()).json), full);
      assert.deepEqual(views((await get(`/api/v1/feature_services/driver_activity?${P}`)).json), [
        "driver_hourly_stats undefined",
      ]);
      assert.deepEqual(views((await asAdmin()).json), full);
    });
  } finally {
    await server.close();
  }
});

Deno.test("registry API: a caller who knows an object but may not describe it gets 403", async () => {
  const features = FEATURES + `
export const onlineReaders = permission({
  name: "online_readers", types: ["featureView"], namePatterns: ["driver_trips"],
  actions: ["READ_ONLINE"], roles: ["ops"],
});
`;
  const server = await startServer({ features, auth: await tokens() });
  try {
    const res = await server.request("GET", `/api/v1/feature_views/driver_trips?${P}`, {
      headers: { authorization: "Bearer ops-key" },
    });
    assert.equal(res.status, 403);
    assert.equal(res.json.error.code, "FORBIDDEN");
    assert.match(res.json.error.message, /^Cannot DESCRIBE feature view "driver_trips"/);
  } finally {
    await server.close();
  }
});

Deno.test("registry API serves only the services a deployment serves", async () => {
  const server = await startServer({
    features: FEATURES,
    yaml: "feature_server:\n  feature_services: [driver_ratings]\n",
  });
  try {
    const services = await server.request("GET", `/api/v1/feature_services?${P}`);
    assert.deepEqual(services.json.featureServices.map((s: Json) => s.spec.name), [
      "driver_ratings",
    ]);
    const views = await server.request("GET", `/api/v1/feature_views?${P}`);
    assert.deepEqual(views.json.featureViews.map((v: Json) => v.spec.name), ["driver_trips"]);
    const other = await server.request("GET", `/api/v1/feature_services/driver_activity?${P}`);
    assert.equal(other.status, 404);
    assert.match(other.json.error.message, /is not served by this deployment/);
  } finally {
    await server.close();
  }
});
