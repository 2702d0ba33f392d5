/**
 * The browser entry of the web UI: Feast's UI (`@feast-dev/feast-ui`) reading Larder's
 * registry REST API, bundled by `server/ui_bundle.ts` with `deno bundle`.
 */
import "./process_env.ts";
import { createRoot } from "react-dom/client";
import FeastUI from "@feast-dev/feast-ui";
import { appendIconComponentCache } from "@elastic/eui/es/components/icon/icon.js";
import { typeToPathMap } from "@elastic/eui/es/components/icon/icon_map.js";
import { uiConfig } from "./config.ts";
import { installToken, signIn, signOutLink } from "./sign_in.ts";

// EUI loads each icon with `import("./assets/" + name)`, a path without its extension, which
// the bundler cannot resolve: load every icon up front (they are in the bundle either way).
async function loadIcons(): Promise<void> {
  const entries = await Promise.all(
    Object.entries(typeToPathMap as Record<string, string>).map(async ([type, file]) => {
      const module = await import(
        `./node_modules/@elastic/eui/es/components/icon/assets/${file}.js`
      );
      return [type, module.icon] as const;
    }),
  );
  appendIconComponentCache(Object.fromEntries(entries));
}

const config = uiConfig();
const root = document.getElementById("root")!;
await loadIcons();
if (config.auth) {
  installToken(config);
  await signIn(config, root);
  signOutLink();
}
createRoot(root).render(<FeastUI />);
