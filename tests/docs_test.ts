/**
 * The user docs hold only examples that work: every ```ts block of `docs/definitions.md`,
 * `docs/getting-started.md` and `docs/streaming.md` type-checks against Larder (one `deno check`
 * over all of them), the definition examples also run, and the getting-started page's shell steps run as written, in
 * a temp folder, with the `larder` command installed into a temp root, ending with an online
 * read through a real feature server on a free port.
 *
 * How `docs/getting-started.md` is read:
 * - Each ```sh block runs line by line (a trailing `\` continues a line), each line with
 *   `bash -c`, from a temp work folder; a block whose first line is `# in the Larder folder`
 *   runs from this checkout. `/path/to/larder` stands for this checkout.
 * - The Deno installer line is skipped (Deno is what runs this test).
 * - The `… serve …` line starts the server in the background, with `--port 0` appended; the
 *   port is read from the line it prints.
 * - `curl` lines to the server are sent with `fetch`, to that port.
 * - A ```ts block after a paragraph ending in "as `some/path.ts`:" is saved there.
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { plainText, userEnv } from "./support/user_shell.ts";

const CHECKOUT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const TYPE_CHECKED = ["docs/definitions.md", "docs/getting-started.md", "docs/streaming.md"];
const GETTING_STARTED = "docs/getting-started.md";
/** How long one command may take before the test gives up on it. */
const COMMAND_TIMEOUT_MS = 120_000;

interface Block {
  readonly lang: string;
  readonly code: string;
  /** Where the page says to save it (`Save this as \`x.ts\`:`), if anywhere. */
  readonly saveAs: string | undefined;
}

/** The fenced code blocks of a Markdown page, in order. */
function codeBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  const fence = /^```(\w*)[^\n]*\n([\s\S]*?)^```\s*$/gm;
  let previousEnd = 0;
  for (const m of markdown.matchAll(fence)) {
    const before = markdown.slice(previousEnd, m.index).trimEnd();
    const saveAs = /as\s+`([^`]+\.ts)`:$/.exec(before)?.[1];
    blocks.push({ lang: m[1]!, code: m[2]!, saveAs });
    previousEnd = m.index! + m[0].length;
  }
  return blocks;
}

const text = plainText;

Deno.test({
  name:
    "docs/definitions.md, getting-started.md and streaming.md: every ts block type-checks, definitions run",
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "larder-docs-check-" });
    try {
      const files: string[] = [];
      const runnable: string[] = [];
      for (const page of TYPE_CHECKED) {
        const blocks = codeBlocks(await Deno.readTextFile(join(CHECKOUT, page)))
          .filter((b) => b.lang === "ts");
        assert.ok(blocks.length > 0, `${page} has ts blocks`);
        for (const [i, block] of blocks.entries()) {
          const name = page.replace(/^docs\//, "").replace(/\.md$/, "");
          const path = join(dir, block.saveAs ?? `${name}_${String(i).padStart(2, "0")}.ts`);
          await Deno.mkdir(dirname(path), { recursive: true });
          await Deno.writeTextFile(path, block.code);
          files.push(path);
          // Definition examples that need no store or file also run: builders check at call.
          if (page !== GETTING_STARTED && !/\bawait\b/.test(block.code)) runnable.push(path);
        }
      }
      // A script saved in the demo repo imports its definitions.
      await Deno.mkdir(join(dir, "my_repo"), { recursive: true });
      await Deno.copyFile(
        join(CHECKOUT, "examples/driver_repo/features.ts"),
        join(dir, "my_repo/features.ts"),
      );
      const config = join(CHECKOUT, "deno.json");
      const check = await new Deno.Command(Deno.execPath(), {
        args: ["check", "--quiet", "--config", config, ...files],
        cwd: dir,
        env: userEnv(),
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(check.code, 0, `deno check failed:\n${text(check.stderr)}${text(check.stdout)}`);

      const runner = join(dir, "_run_definitions.ts");
      await Deno.writeTextFile(
        runner,
        runnable.map((f) => `await import(${JSON.stringify(`file://${f}`)});`).join("\n") +
          "\nconsole.log('ran', " + runnable.length + ");\n",
      );
      const run = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--no-check", "--config", config, runner],
        cwd: dir,
        env: userEnv(),
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(run.code, 0, `a definition example throws:\n${text(run.stderr)}`);
      assert.equal(text(run.stdout).trim(), `ran ${runnable.length}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** Splits one shell command line into words (single and double quotes; no expansion). */
function shellWords(line: string): string[] {
  const words: string[] = [];
  let word = "";
  let quote: "'" | '"' | undefined;
  let inWord = false;
  for (const c of line) {
    if (quote) {
      if (c === quote) quote = undefined;
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/** The commands of a sh block: continuation lines joined, comment lines dropped. */
function commands(code: string): string[] {
  return code.replace(/\\\n\s*/g, "").split("\n").map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
}

/** A curl command as a fetch request. */
function curlRequest(command: string, base: string): { url: string; init: RequestInit } {
  const words = shellWords(command).slice(1);
  const headers = new Headers();
  let method = "GET";
  let body: string | undefined;
  let url: string | undefined;
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (w === "-X") method = words[++i]!;
    else if (w === "-H") {
      const [name, ...value] = words[++i]!.split(":");
      headers.set(name!.trim(), value.join(":").trim());
    } else if (w === "-d") body = words[++i]!;
    else if (/^https?:\/\//.test(w)) url = w;
  }
  assert.ok(url, `no URL in ${command}`);
  const target = new URL(url);
  return {
    url: new URL(target.pathname + target.search, base).href,
    init: { method, headers, ...(body !== undefined ? { body } : {}) },
  };
}

/** Starts the feature server line in the background; resolves with its base URL. */
async function startServer(
  command: string,
  cwd: string,
  env: Record<string, string>,
): Promise<{ base: string; stop: () => Promise<void> }> {
  const child = new Deno.Command("bash", {
    args: ["-c", `exec ${command} --port 0`],
    cwd,
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let errText = "";
  const errDrain = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (chunk) => void (errText += chunk) }),
  ).catch(() => {});
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  const deadline = Date.now() + COMMAND_TIMEOUT_MS;
  let base: string | undefined;
  while (base === undefined && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    out += value;
    base = /listening on (http:\/\/\S+)/.exec(out)?.[1];
  }
  const drain = (async () => {
    while (!(await reader.read()).done) { /* keep the pipe empty */ }
  })().catch(() => {});
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    await child.status;
    await drain;
    await errDrain;
  };
  if (base === undefined) {
    await stop();
    throw new Error(`the server did not start: ${command}\n${out}\n${errText}`);
  }
  return { base, stop };
}

Deno.test({
  name: "docs/getting-started.md: the shell steps run as written, ending with a served online read",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const work = await Deno.makeTempDir({ prefix: "larder-docs-work-" });
    const root = await Deno.makeTempDir({ prefix: "larder-docs-root-" });
    const env = userEnv({
      DENO_INSTALL_ROOT: root,
      PATH: `${join(root, "bin")}:${Deno.env.get("PATH") ?? ""}`,
    });
    let server: { base: string; stop: () => Promise<void> } | undefined;
    const ran: string[] = [];
    let onlineReads = 0;
    try {
      const page = await Deno.readTextFile(join(CHECKOUT, GETTING_STARTED));
      for (const block of codeBlocks(page)) {
        if (block.lang === "ts" && block.saveAs !== undefined) {
          const path = join(work, block.saveAs);
          await Deno.mkdir(dirname(path), { recursive: true });
          await Deno.writeTextFile(path, block.code);
          continue;
        }
        if (block.lang !== "sh") continue;
        const cwd = block.code.trimStart().startsWith("# in the Larder folder") ? CHECKOUT : work;
        for (const raw of commands(block.code)) {
          const command = raw.replaceAll("/path/to/larder", CHECKOUT);
          if (command.startsWith("curl -fsSL https://deno.land/install.sh")) continue;
          ran.push(command);
          if (/^(deno task .* serve|larder serve)\b/.test(command)) {
            server = await startServer(command, cwd, env);
            continue;
          }
          if (command.startsWith("curl ")) {
            assert.ok(server, `"${command}" comes before the server is started`);
            const { url, init } = curlRequest(command, server.base);
            const res = await fetch(url, init);
            const body = await res.json();
            assert.equal(res.status, 200, `${command}: ${JSON.stringify(body)}`);
            if (url.endsWith("/get-online-features")) {
              onlineReads++;
              const results = body.results as { values: unknown[]; statuses: string[] }[];
              assert.deepEqual(body.metadata.feature_names.slice(0, 1), ["driver_id"]);
              assert.ok(results.length > 1);
              for (const column of results) {
                assert.deepEqual(column.statuses, column.values.map(() => "PRESENT"));
                assert.ok(column.values.every((v) => v !== null));
              }
            } else assert.equal(body.status, "ok");
            continue;
          }
          const out = await new Deno.Command("bash", {
            args: ["-c", command],
            cwd,
            env,
            clearEnv: true,
            stdout: "piped",
            stderr: "piped",
            signal: AbortSignal.timeout(COMMAND_TIMEOUT_MS),
          }).output();
          assert.equal(
            out.code,
            0,
            `"${command}" failed (exit ${out.code}):\n${text(out.stderr)}${text(out.stdout)}`,
          );
        }
      }
      // The page covers the whole path: install, init, plan, apply, materialize, a served read.
      for (
        const step of [
          /^deno install /,
          /^larder init /,
          /^larder plan /,
          /^larder apply /,
          /^larder materialize/,
          /^larder serve /,
        ]
      ) {
        assert.ok(ran.some((c) => step.test(c)), `no step matching ${step}`);
      }
      assert.ok(onlineReads > 0, "no online read through the server");
    } finally {
      await server?.stop();
      await Deno.remove(work, { recursive: true });
      await Deno.remove(root, { recursive: true });
    }
  },
});
