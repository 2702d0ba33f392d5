import assert from "node:assert/strict";
import { LARDER_REDIS_SCRIPTS, scriptSha1 } from "../../engine/mod.ts";
import { CommandPolicy } from "./command_policy.ts";

const allowed = (policy: CommandPolicy, command: string[]) => policy.refusal(command) === undefined;

Deno.test("CommandPolicy.refusal() lets every command Larder sends through by default", () => {
  const policy = new CommandPolicy();
  const larder = [
    ["MGET", "a", "b"],
    ["SET", "lock", "token", "NX", "PX", "30000"],
    ["UNLINK", "a", "b"],
    ["SCAN", "0", "MATCH", "larder:p:*", "COUNT", "1000"],
    ["HMGET", "larder-registry:p", "version", "text"],
    ["DBSIZE"],
    ...LARDER_REDIS_SCRIPTS.flatMap((source) => [
      ["SCRIPT", "LOAD", source],
      ["EVAL", source, "1", "k"],
      ["evalsha", scriptSha1(source), "1", "k"],
    ]),
  ];
  for (const command of larder) assert.ok(allowed(policy, command), command.join(" "));
});

Deno.test("CommandPolicy.refusal() names the flag that allows a refused command", () => {
  const policy = new CommandPolicy();
  assert.deepEqual(policy.refusal(["flushall"]), {
    code: "FORBIDDEN",
    name: "FLUSHALL",
    reason:
      "it is an admin or server command, or not one the bridge knows: the bridge allows it only with --allow-admin",
  });
  assert.match(policy.refusal(["SCRIPT", "flush"])!.reason, /--allow-admin$/);
  assert.match(
    policy.refusal(["EVAL", "return 1", "0"])!.reason,
    /--script FILE.*--allow-scripts$/,
  );
  assert.match(policy.refusal(["FCALL", "f", "0"])!.reason, /--allow-scripts$/);
  assert.equal(policy.refusal(["BLPOP", "q", "0"])!.code, "INPUT_INVALID");
  assert.equal(policy.refusal(["CLIENT", "TRACKING", "on"])!.name, "CLIENT TRACKING");
  assert.equal(
    policy.refusal(["XREADGROUP", "GROUP", "g", "c", "block", "0"])!.name,
    "XREADGROUP BLOCK",
  );
});

Deno.test("CommandPolicy.refusal() bounds SCAN COUNT and COPY DB without allowAdmin", () => {
  const policy = new CommandPolicy();
  assert.ok(allowed(policy, ["SCAN", "0", "COUNT", "10000"]));
  assert.ok(allowed(policy, ["SCAN", "0", "MATCH", "count", "TYPE", "count"]));
  assert.ok(!allowed(policy, ["SCAN", "0", "count", "10001"]));
  assert.ok(!allowed(policy, ["HSCAN", "h", "0", "COUNT", "1e9"]));
  assert.ok(!allowed(policy, ["ZSCAN", "z", "0", "COUNT", "many"]));
  assert.ok(allowed(policy, ["HSCAN", "count", "0", "COUNT", "10"]));
  assert.ok(!allowed(policy, ["COPY", "a", "b", "DB", "1"]));
  assert.ok(allowed(policy, ["COPY", "a", "db", "REPLACE"]));
  const admin = new CommandPolicy({ allowAdmin: true });
  assert.ok(allowed(admin, ["SCAN", "0", "COUNT", "1000000"]));
  assert.ok(allowed(admin, ["COPY", "a", "b", "DB", "1"]));
});

Deno.test("CommandPolicy.refusal() checks every COUNT of a scan: Redis uses the last", () => {
  const policy = new CommandPolicy();
  const scans = [
    ["SCAN", "0", "COUNT", "10", "COUNT", "100000000"],
    ["SCAN", "0", "COUNT", "100000000", "COUNT", "10"],
    ["SCAN", "0", "MATCH", "*", "COUNT", "10", "TYPE", "string", "count", "20000"],
    ["HSCAN", "h", "0", "COUNT", "10", "COUNT", "100000000"],
    ["SSCAN", "s", "0", "COUNT", "10", "MATCH", "x", "COUNT", "100000000"],
    ["ZSCAN", "z", "0", "COUNT", "1", "COUNT", "2", "COUNT", "100000000"],
  ];
  for (const command of scans) {
    const refusal = policy.refusal(command);
    assert.equal(refusal?.code, "FORBIDDEN", command.join(" "));
    assert.match(refusal.reason, /^COUNT "(100000000|20000)" is over 10000 /);
  }
  assert.ok(allowed(policy, ["SCAN", "0", "COUNT", "10", "COUNT", "10000"]));
  // A MATCH pattern or TYPE that reads "COUNT" is a value, not an option.
  assert.ok(allowed(policy, ["SCAN", "0", "MATCH", "COUNT", "COUNT", "5"]));
  assert.ok(allowed(policy, ["HSCAN", "h", "0", "NOVALUES", "COUNT", "5"]));
});

Deno.test("CommandPolicy.refusal() allows functions to be loaded and read with allowScripts, removed or killed only with allowAdmin", () => {
  const scripts = new CommandPolicy({ allowScripts: true });
  for (const sub of ["LOAD", "list", "DUMP", "STATS"]) {
    assert.ok(allowed(scripts, ["FUNCTION", sub, "x"]), sub);
  }
  assert.ok(allowed(scripts, ["FCALL", "f", "0"]));
  for (const sub of ["FLUSH", "delete", "RESTORE", "KILL", "HELP", ""]) {
    assert.deepEqual(scripts.refusal(["FUNCTION", sub, "x"]), {
      code: "FORBIDDEN",
      name: `FUNCTION ${sub.toUpperCase()}`,
      reason: "it is an admin command: the bridge allows it only with --allow-admin",
    });
  }
  // As SCRIPT FLUSH and SCRIPT KILL: admin alone allows them, not loading or calling functions.
  const admin = new CommandPolicy({ allowAdmin: true });
  assert.ok(allowed(admin, ["FUNCTION", "FLUSH"]));
  assert.ok(allowed(admin, ["FUNCTION", "KILL"]));
  assert.ok(allowed(admin, ["SCRIPT", "FLUSH"]));
  assert.match(admin.refusal(["FUNCTION", "LOAD", "x"])!.reason, /--allow-scripts$/);
  assert.match(admin.refusal(["FCALL", "f", "0"])!.reason, /--allow-scripts$/);
  const none = new CommandPolicy();
  assert.match(none.refusal(["FUNCTION", "LIST"])!.reason, /--allow-scripts$/);
  assert.match(none.refusal(["FUNCTION", "FLUSH"])!.reason, /--allow-admin$/);
});

Deno.test("CommandPolicy.check() says which allowed commands run a script", () => {
  const policy = new CommandPolicy({ allowScripts: true, allowAdmin: true });
  const runs = (command: string[]) => {
    const verdict = policy.check(command);
    assert.ok(verdict.allowed, command.join(" "));
    return verdict.runsScript;
  };
  for (const name of ["EVAL", "eval_ro", "EVALSHA", "EVALSHA_RO", "FCALL", "fcall_ro"]) {
    assert.equal(runs([name, "x", "0"]), true, name);
  }
  for (const command of [["GET", "k"], ["SCRIPT", "LOAD", "x"], ["FUNCTION", "LOAD", "x"]]) {
    assert.equal(runs(command), false, command.join(" "));
  }
  const refused = new CommandPolicy().check(["FLUSHALL"]);
  assert.equal(refused.allowed, false);
});

Deno.test("CommandPolicy.refusal() knows scripts by exact source and by SHA-1", () => {
  const source = "return 1";
  const policy = new CommandPolicy({ scripts: [source] });
  assert.ok(allowed(policy, ["EVAL", source, "0"]));
  assert.ok(allowed(policy, ["EVALSHA_RO", scriptSha1(source).toUpperCase(), "0"]));
  assert.ok(!allowed(policy, ["EVAL", `${source}\n`, "0"]));
  assert.ok(!allowed(policy, ["EVALSHA", scriptSha1("return 2"), "0"]));
  assert.equal(policy.scripts.get(scriptSha1(source)), source);
  assert.equal(policy.scripts.size, LARDER_REDIS_SCRIPTS.length + 1);
  const scripts = new CommandPolicy({ allowScripts: true });
  assert.ok(allowed(scripts, ["EVAL", "return 2", "0"]));
  assert.ok(allowed(scripts, ["FUNCTION", "LOAD", "#!lua name=x"]));
  assert.ok(!allowed(scripts, ["SCRIPT", "FLUSH"]));
  assert.ok(!allowed(scripts, ["SCRIPT", "DEBUG", "YES"]));
});
