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

/**
 * Mounts a tmpfs of `sizeKiB` on a new temporary folder, or answers `undefined` after
 * printing why (not root, no right to mount): the caller then skips, loudly.
 */
export async function mountTmpfs(sizeKiB = 256): Promise<Tmpfs | undefined> {
  const dir = await Deno.makeTempDir({ prefix: "larder-tmpfs-" });
  const mounted = await run(["mount", "-t", "tmpfs", "-o", `size=${sizeKiB}k`, "tmpfs", dir]);
  if (!mounted.ok) {
    await Deno.remove(dir).catch(() => {});
    console.warn(
      `%cSKIPPED: cannot mount a tmpfs (${
        mounted.stderr || "mount failed"
      }); the disk-full and read-only checks need root with CAP_SYS_ADMIN`,
      "color: yellow; font-weight: bold",
    );
    return undefined;
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
