import assert from "node:assert/strict";
import { parseTimestamp } from "../engine/mod.ts";
import { tempRepo } from "./support/repo.ts";

Deno.test("parseTimestamp() reads RFC 3339 text; no offset means UTC", () => {
  assert.equal(parseTimestamp("2026-01-31T00:00:00")?.toISOString(), "2026-01-31T00:00:00.000Z");
  assert.equal(parseTimestamp("2026-01-31")?.toISOString(), "2026-01-31T00:00:00.000Z");
  assert.equal(
    parseTimestamp("2026-01-31T00:00:00.123456+02:00")?.toISOString(),
    "2026-01-30T22:00:00.123Z",
  );
  assert.equal(parseTimestamp("Jan 31 2026"), undefined);
  assert.equal(parseTimestamp("2026-13-01"), undefined);
});

Deno.test("times without an offset are UTC whatever the machine's time zone", async () => {
  // Date.parse would read these as local time: run where local time is not UTC.
  const script = `
    import { coerceValue } from "${new URL("../engine/online/mod.ts", import.meta.url).href}";
    import { parseTimestamp } from "${new URL("../engine/mod.ts", import.meta.url).href}";
    console.log(JSON.stringify([
      new Date(Date.parse("2026-01-31T00:00:00")).toISOString(),
      coerceValue("2026-01-31T00:00:00", "timestamp").toISOString(),
      parseTimestamp("2026-01-31T00:00:00").toISOString(),
    ]));
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--config", new URL("../deno.json", import.meta.url).pathname, script],
    env: { TZ: "America/New_York" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const [local, value, parsed] = JSON.parse(new TextDecoder().decode(out.stdout));
  assert.equal(local, "2026-01-31T05:00:00.000Z", "the child really runs in New York time");
  assert.equal(value, "2026-01-31T00:00:00.000Z");
  assert.equal(parsed, "2026-01-31T00:00:00.000Z");
});

Deno.test("the CLI refuses times that are not ISO 8601 instead of guessing", async () => {
  const repo = await tempRepo();
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../cli/main.ts", import.meta.url).pathname,
        "materialize",
        "Jan 1 2026",
        "2026-01-02T00:00:00",
        "--repo",
        repo.dir,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 1);
    assert.match(new TextDecoder().decode(out.stderr), /expected an ISO 8601 time/);
  } finally {
    await repo.remove();
  }
});
