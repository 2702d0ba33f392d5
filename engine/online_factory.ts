/** Maps `online_store.type` to a backend: the only code that knows every online store. */
import type { LarderConfig } from "./config.ts";
import type { OnlineStore } from "./online/online_store.ts";

/** Creates the online store that `larder.yaml` asks for (none exists yet: issue 4). */
export function createOnlineStore(
  _config: LarderConfig,
  _repoDir: string,
): Promise<OnlineStore | undefined> {
  return Promise.resolve(undefined);
}
