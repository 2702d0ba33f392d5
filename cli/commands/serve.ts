/**
 * `larder serve`: the feature server, as `deno task serve` starts it in a checkout, for the
 * installed command. The server is loaded only when this command runs, so that no other
 * command pays for it.
 */
import type { Command } from "../command.ts";

const PROG = "larder serve";

/** `larder serve`. */
export const serveCommand: Command = {
  name: "serve",
  summary: "Serve the features over HTTP (Feast's API) and Feast's web UI",
  help: `Usage: ${PROG} [--repo DIR] [--port 6566] [--host 127.0.0.1] [--no-ui]`,
  handlesHelp: true,
  async run(argv) {
    const { serveMain } = await import("../../server/main.ts");
    return await serveMain(argv, PROG);
  },
};
