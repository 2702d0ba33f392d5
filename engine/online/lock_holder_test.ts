import assert from "node:assert/strict";
import { join } from "node:path";
import { currentHolder, holderEnded, type LockHolder, processRunning } from "./lock_holder.ts";

const onLinux = Deno.build.os === "linux";

/** The pid of a process that has run and ended (and been reaped). */
async function endedPid(): Promise<number> {
  const child = new Deno.Command("true", { stdout: "null", stderr: "null" }).spawn();
  await child.status;
  return child.pid;
}

Deno.test({
  name: "currentHolder() records this process's host, pid, pid namespace and boot id",
  ignore: !onLinux,
  fn() {
    const holder = currentHolder(1234);
    assert.deepEqual(holder, {
      host: Deno.hostname(),
      pid: Deno.pid,
      since: 1234,
      pidNamespace: Deno.readLinkSync("/proc/self/ns/pid"),
      bootId: Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim(),
    });
    assert.match(holder.pidNamespace!, /^pid:\[\d+\]$/);
  },
});

Deno.test({
  name: "processRunning() tells a running process from one that has ended",
  ignore: !onLinux,
  async fn() {
    assert.equal(processRunning(Deno.pid), true);
    assert.equal(processRunning(await endedPid()), false);
    assert.equal(processRunning(0), undefined);
    assert.equal(processRunning(-1), undefined);
  },
});

/**
 * A `/proc` tree as this machine cannot show it (the tests run as root, who reads every
 * `/proc/<pid>`): `hidepid` mount options, a `/proc/<pid>/stat` that cannot be read.
 */
async function procTree(options: { hidepid?: string }): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "larder-proc-" });
  await Deno.mkdir(join(root, "self"));
  const superOptions = options.hidepid === undefined ? "rw" : `rw,hidepid=${options.hidepid}`;
  await Deno.writeTextFile(
    join(root, "self", "mountinfo"),
    `21 26 0:5 / /sys rw,nosuid - sysfs sysfs rw\n22 26 0:21 / /proc rw,relatime - proc proc ${superOptions}\n`,
  );
  return root;
}

// Pids far above any this machine runs, so that the real /proc has none of them either.
const RUNNING = 4_190_001;
const ZOMBIE = 4_190_002;
const UNREADABLE = 4_190_003;
const GONE = 4_190_004;

async function addProcesses(root: string): Promise<void> {
  await Deno.mkdir(join(root, String(RUNNING)));
  await Deno.writeTextFile(join(root, String(RUNNING), "stat"), `${RUNNING} (deno (x)) S 1 2 3`);
  await Deno.mkdir(join(root, String(ZOMBIE)));
  await Deno.writeTextFile(join(root, String(ZOMBIE), "stat"), `${ZOMBIE} (deno) Z 1 2 3`);
  // Reading it fails with an error other than "not found", as EACCES does under hidepid=1.
  await Deno.mkdir(join(root, String(UNREADABLE), "stat"), { recursive: true });
}

Deno.test("processRunning() says ended only when /proc has no such process, else unknown", async () => {
  const open = await procTree({});
  const hidden = await procTree({ hidepid: "invisible" });
  const off = await procTree({ hidepid: "0" });
  try {
    for (const root of [open, hidden, off]) await addProcesses(root);
    const ask = (pid: number, proc: string) => processRunning(pid, { proc });
    assert.equal(ask(RUNNING, open), true);
    assert.equal(ask(ZOMBIE, open), false, "a zombie has ended");
    assert.equal(ask(GONE, open), false, "no /proc/<pid>: ended");
    assert.equal(ask(UNREADABLE, open), undefined, "unreadable: unknown, never ended");
    // hidepid hides other users' processes as if they had ended: a missing one is unknown.
    assert.equal(ask(GONE, hidden), undefined);
    assert.equal(ask(RUNNING, hidden), true);
    assert.equal(ask(GONE, off), false, "hidepid=0 hides nothing");
    assert.equal(ask(GONE, join(open, "nowhere")), undefined, "no /proc at all");
  } finally {
    for (const root of [open, hidden, off]) await Deno.remove(root, { recursive: true });
  }
});

Deno.test({
  name: "holderEnded() trusts an ended pid only from this host, pid namespace and boot",
  ignore: !onLinux,
  async fn() {
    const self = currentHolder();
    const ended: LockHolder = { ...self, pid: await endedPid() };
    assert.equal(holderEnded(ended), true);
    assert.equal(holderEnded({ ...self }), false, "this process runs");
    // Another container with the same host name: its pids are not this namespace's.
    assert.equal(holderEnded({ ...ended, pidNamespace: "pid:[4026532999]" }), undefined);
    // Another machine (or boot) whose initial pid namespace has the same name.
    assert.equal(
      holderEnded({ ...ended, bootId: "00000000-0000-0000-0000-000000000000" }),
      undefined,
    );
    // Written by an older Larder, without either: unknown.
    const { pidNamespace: _ns, bootId: _boot, ...bare } = ended;
    assert.equal(holderEnded(bare), undefined);
    assert.equal(holderEnded({ ...ended, host: `${self.host}-other` }), undefined);
    assert.equal(holderEnded({ ...ended, host: "unknown" }), undefined);
    assert.equal(holderEnded(null), undefined);
  },
});
