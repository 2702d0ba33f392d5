/**
 * `pushRows`: rows of a push source, written where the caller asks: offline as a new file under
 * its batch source, online to every online view it feeds. One sequence for the SDK's
 * `FeatureStore.push` and the server's `POST /push`.
 */
import {
  isLarderError,
  LarderError,
  ownValue,
  refuseReservedName,
  type RegistryDocument,
} from "../registry/mod.ts";
import type { OnlineStore } from "./online/online_store.ts";
import {
  commitOnlineWrite,
  type EntityColumns,
  prepareOnlineWrite,
  viewJoinKeys,
  type WriteOnlineResult,
} from "./online/mod.ts";
import type { TransformLoader } from "./on_demand.ts";
import { pushOffline } from "./push_offline.ts";

/** What {@linkcode pushRows} needs. */
export interface PushDeps {
  readonly doc: RegistryDocument;
  /** The repo: the batch source's path is relative to it. */
  readonly repoDir: string;
  /** The online store; needed only when pushing online. */
  readonly online: () => Promise<OnlineStore>;
  readonly transforms?: TransformLoader;
}

/** A push. */
export interface PushRequest {
  readonly pushSource: string;
  readonly data: EntityColumns;
  readonly to: "online" | "offline" | "online_and_offline";
  /**
   * Write online only to these of the views the source feeds (a deployment serving some
   * feature services); default all of them.
   */
  readonly views?: readonly string[];
}

/** What a push wrote: files offline, and per online view what `writeOnline` did. */
export interface PushResult {
  readonly files: readonly string[];
  readonly online: readonly { readonly view: string; readonly result: WriteOnlineResult }[];
}

/**
 * Writes the rows offline first (if the rows cannot be stored durably, nothing is served from
 * them), then online, skip-if-not-newer, to each view the source feeds that is served online
 * (`online: false` views are offline-only and skipped online). The caller has checked that
 * `pushSource` is a push source. When the online write fails after the offline one, the
 * error (same code) says which file now holds the rows, so that they are not pushed offline
 * twice.
 */
export async function pushRows(deps: PushDeps, request: PushRequest): Promise<PushResult> {
  refuseReservedName(request.data, "column");
  refuseMissingKeys(deps.doc, request);
  const files = request.to === "online" ? [] : (await pushOffline(deps.repoDir, deps.doc, {
    pushSource: request.pushSource,
    columns: request.data,
  })).files;
  try {
    return { files, online: await pushOnline(deps, request) };
  } catch (err) {
    if (files.length === 0 || !isLarderError(err)) throw err;
    throw new LarderError(
      err.code,
      `${err.message}; the rows were written offline before that, to ${
        files.map((f) => `"${f}"`).join(", ")
      }: push them again with to "online" only`,
      { cause: err, details: { ...err.details, offlineFiles: files } },
    );
  }
}

async function pushOnline(
  deps: PushDeps,
  request: PushRequest,
): Promise<PushResult["online"]> {
  const { doc } = deps;
  const online: { view: string; result: WriteOnlineResult }[] = [];
  if (request.to !== "offline") {
    const views = Object.values(doc.objects.featureView).map((v) => v.spec).filter((v) =>
      v.source === request.pushSource && v.online &&
      (request.views === undefined || request.views.includes(v.name))
    );
    // Every view's rows are checked and its write-time transforms run before anything is
    // written, so that a failure for one view leaves all of them as they were.
    const prepared = [];
    for (const view of views) {
      prepared.push(
        await prepareOnlineWrite(
          { registry: doc, transforms: deps.transforms },
          view.name,
          request.data,
        ),
      );
    }
    const store = views.length > 0 ? await deps.online() : undefined;
    for (const p of prepared) {
      online.push({ view: p.view, result: await commitOnlineWrite(store!, p) });
    }
  }
  return online;
}

/**
 * Refuses, before anything is written anywhere, a row with no value for a join key of a view
 * the push source feeds: online it could not be stored, offline no retrieval would ever match
 * it, and refusing it on one side only would leave the two sides apart.
 */
function refuseMissingKeys(doc: RegistryDocument, request: PushRequest): void {
  const rows = Object.values(request.data).find(Array.isArray)?.length ?? 0;
  for (const { spec: view } of Object.values(doc.objects.featureView)) {
    if (view.source !== request.pushSource) continue;
    const written = view.online && (request.views?.includes(view.name) ?? true);
    if (request.to === "online" && !written) continue;
    for (const key of viewJoinKeys(doc, view)) {
      const values = ownValue(request.data, key.name);
      if (!Array.isArray(values)) continue;
      for (let r = 0; r < rows; r++) {
        if (values[r] !== null && values[r] !== undefined) continue;
        throw new LarderError(
          "INPUT_INVALID",
          `Cannot push to push source "${request.pushSource}": row ${r} has no value for join key "${key.name}" of feature view "${view.name}": every row needs one; nothing was written`,
          {
            details: { pushSource: request.pushSource, row: r, joinKey: key.name, view: view.name },
          },
        );
      }
    }
  }
}
