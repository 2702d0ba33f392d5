/**
 * Commands run as a user runs them from a shell: outside any `deno task`, so that nothing of
 * the test runner's environment (such as `INIT_CWD`) leaks into them.
 */

/** The environment of a user's shell: no `INIT_CWD` inherited from `deno task test`. */
export function userEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env = Deno.env.toObject();
  delete env.INIT_CWD;
  return { ...env, ...extra };
}

/** Output bytes as text, without ANSI colour codes. */
export function plainText(bytes: Uint8Array): string {
  // deno-lint-ignore no-control-regex -- stripping ANSI color codes is the point
  return new TextDecoder().decode(bytes).replace(/\x1b\[[0-9;]*m/g, "");
}

/** Runs `command args` in `cwd` with {@linkcode userEnv}; its exit code and plain output. */
export async function runAsUser(
  command: string,
  args: readonly string[],
  cwd: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(command, {
    args: [...args],
    cwd,
    clearEnv: true,
    env: userEnv(),
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: plainText(out.stdout), stderr: plainText(out.stderr) };
}
