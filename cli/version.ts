/**
 * Larder's version, printed by `larder --version`. The one place it is written down (until
 * the package's `deno.json` carries it).
 */
export const VERSION = "0.1.0";
