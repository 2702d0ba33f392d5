/**
 * The object-storage client that sources, writers and the registry use when none is passed:
 * the one the feature store configured from `larder.yaml`, else one from the environment.
 */
import { ObjectStore } from "./object_store.ts";

let current: ObjectStore | undefined;

/** The client in use (made from the `AWS_*` environment variables until one is set). */
export function defaultObjectStore(): ObjectStore {
  current ??= ObjectStore.fromEnv();
  return current;
}

/** Makes `store` the client in use (the feature store calls it with `object_store:`). */
export function setDefaultObjectStore(store: ObjectStore): void {
  current = store;
}
