import denoJson from "../deno.json" with { type: "json" };

/** Larder's version, printed by `larder --version`: the package version in `deno.json`. */
export const VERSION: string = denoJson.version;
