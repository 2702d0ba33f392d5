/**
 * Small real file systems for tests of a full disk and a read-only folder: a tmpfs mounted on
 * a temporary folder (`mount -t tmpfs -o size=…`), which needs root with the right to mount.
 * Tests run as root here, where `chmod` denies nothing, so this is how they see the OS refuse.
 */

/** A mounted tmpfs. */
export interface Tmpfs {
  /** The mount point (an absolute path). */
  readonly dir: string;
  /** Fills the free space with a file, so the next write fails with ENOSPC. */
  fill(): Promise<void>;
  /** Remounts read-only: writes then fail with EROFS. */
  readOnly(): Promise<void>;
  /** Unmounts and removes the mount point. */
  remove(): Promise<void>;
}

async function run(args: string[]): Promise<{ ok: boolean; stderr: string }> {
  try {
    const out = await new Deno.Command(args[0]!, { args: args.slice(1), stderr: "piped" })
      .output();
    return { ok: out.success, stderr: new TextDecoder().decode(out.stderr).trim() };
  } catch (err) {
    return { ok: false, stderr: String(err) };
  }
}

/** Why a tmpfs cannot be mounted here, or `undefined` when it can (probed once, at load). */
const cannotMount: string | undefined = await (async () => {
  const dir = await Deno.makeTempDir({ prefix: "larder-tmpfs-probe-" });
  try {
    const mounted = await run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", dir]);
    if (!mounted.ok) return mounted.stderr || "mount failed";
    await run(["umount", dir]);
    return undefined;
  } finally {
    await Deno.remove(dir).catch(() => {});
  }
})();

/**
 * `ignore` for `Deno.test` of a test that mounts a tmpfs: `true` (with the reason printed)
 * where the tests may not mount one (not root, no CAP_SYS_ADMIN), so that the skip shows as
 * "ignored" rather than a pass. Never under `CI=true`: CI runs as root, and there the test
 * runs and fails if the mount fails.
 */
export const noTmpfs: boolean = (() => {
  if (cannotMount === undefined || Deno.env.get("CI") === "true") return false;
  console.warn(
    `%cIGNORED: the disk-full and read-only tests, which need a tmpfs (root with CAP_SYS_ADMIN): cannot mount one here (${cannotMount})`,
    "color: yellow; font-weight: bold",
  );
  return true;
})();

/**
 * Mounts a tmpfs of `sizeKiB` on a new temporary folder; throws when it cannot (run the test
 * with `ignore: noTmpfs`).
 */
export async function mountTmpfs(sizeKiB = 256): Promise<Tmpfs> {
  const dir = await Deno.makeTempDir({ prefix: "larder-tmpfs-" });
  const mounted = await run(["mount", "-t", "tmpfs", "-o", `size=${sizeKiB}k`, "tmpfs", dir]);
  if (!mounted.ok) {
    await Deno.remove(dir).catch(() => {});
    throw new Error(
      `Cannot mount a tmpfs (${
        mounted.stderr || "mount failed"
      }): the disk-full and read-only tests need root with CAP_SYS_ADMIN`,
    );
  }
  return {
    dir,
    async fill() {
      const file = await Deno.open(`${dir}/.filler`, { write: true, create: true, append: true });
      const chunk = new Uint8Array(4096);
      try {
        for (;;) await file.write(chunk);
      } catch {
        // ENOSPC: full.
      } finally {
        file.close();
      }
    },
    async readOnly() {
      const ro = await run(["mount", "-o", "remount,ro", dir]);
      if (!ro.ok) throw new Error(`Cannot remount "${dir}" read-only: ${ro.stderr}`);
    },
    async remove() {
      const out = await run(["umount", dir]);
      if (!out.ok) await run(["umount", "-l", dir]);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
