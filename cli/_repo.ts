/** Opening the feature store a command works on. */
import { resolve } from "node:path";
import { FeatureStore } from "../engine/mod.ts";
import { userCwd } from "./_args.ts";

/** Opens the feature store at `--repo` (default: the folder the user ran the command from). */
export async function openStore(repo: string | undefined): Promise<FeatureStore> {
  return await FeatureStore.open({ repo: resolve(userCwd(), repo ?? ".") });
}

/** Runs `fn` with an open store and closes it afterwards. */
export async function withStore<T>(
  repo: string | undefined,
  fn: (store: FeatureStore) => Promise<T>,
): Promise<T> {
  const store = await openStore(repo);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}
