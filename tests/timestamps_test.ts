import assert from "node:assert/strict";
import {
  FeatureStore,
  parseTimestamp,
  parseTimestampMicros,
  timestampError,
  timestampProblem,
  writeTable,
} from "../engine/mod.ts";
import { parseWindowBound, TIMESTAMP_PATTERN } from "../engine/timestamps.ts";
import { timestampStrings } from "./support/timestamp_strings.ts";
import { join } from "node:path";
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

/** Text and the instant it names (ISO 8601 with microseconds), or why it is refused. */
const VALID: [string, string][] = [
  ["2024-02-29", "2024-02-29T00:00:00.000000Z"],
  ["2000-02-29T12:00:00Z", "2000-02-29T12:00:00.000000Z"],
  ["2001-02-28T23:59:59.999999Z", "2001-02-28T23:59:59.999999Z"],
  ["2001-04-30T00:00", "2001-04-30T00:00:00.000000Z"],
  ["2001-12-31 23:59:59", "2001-12-31T23:59:59.000000Z"],
  ["2001-01-01t00:00:00z", "2001-01-01T00:00:00.000000Z"],
  ["2024-01-01T00:00:02.000001Z", "2024-01-01T00:00:02.000001Z"],
  ["2024-01-01T00:00:02.1Z", "2024-01-01T00:00:02.100000Z"],
  ["2024-01-01T00:00:02.123456789Z", "2024-01-01T00:00:02.123456Z"],
  ["2024-01-01T00:00:02.0000019Z", "2024-01-01T00:00:02.000001Z"],
  ["2024-01-01T00:00:00+23:59", "2023-12-31T00:01:00.000000Z"],
  ["2024-01-01T00:00:00-23:59", "2024-01-01T23:59:00.000000Z"],
  ["2024-01-01T01:30:00+0130", "2024-01-01T00:00:00.000000Z"],
  ["1969-12-31T23:59:59.999999Z", "1969-12-31T23:59:59.999999Z"],
  ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000000Z"],
  ["9999-12-31T23:59:59Z", "9999-12-31T23:59:59.000000Z"],
];

const INVALID: [string, RegExp][] = [
  ["2001-02-30", /February 2001 has 28 days/],
  ["2001-02-29", /February 2001 has 28 days/],
  ["1900-02-29T00:00:00Z", /February 1900 has 28 days/],
  ["2024-02-30", /February 2024 has 29 days/],
  ["2001-04-31", /April has 30 days/],
  ["2001-06-31T00:00:00Z", /June has 30 days/],
  ["2001-01-32", /January has 31 days/],
  ["2001-01-00", /day 00 does not exist/],
  ["2001-13-01", /month 13 does not exist/],
  ["2001-00-10", /month 00 does not exist/],
  ["2001-01-01T24:00:00Z", /hour 24 is not accepted/],
  ["2001-01-01T25:00:00Z", /hour 25 does not exist/],
  ["2001-01-01T23:60:00Z", /minute 60 does not exist/],
  ["2016-12-31T23:59:60Z", /leap second/],
  ["2001-01-01T00:00:61Z", /second 61 does not exist/],
  ["2001-01-01T00:00:00+24:00", /offset \+24:00 is not within ±23:59/],
  ["2001-01-01T00:00:00-00:60", /offset -00:60 is not within ±23:59/],
  ["2001-01-01T00:00:00.1234567890Z", /expected the form/],
  ["2001-01-01Z", /expected the form/],
  ["Jan 1 2001", /expected the form/],
  ["2001-1-01", /expected the form/],
  ["", /expected the form/],
];

function isoMicros(micros: number): string {
  const ms = Math.floor(micros / 1000);
  return `${new Date(ms).toISOString().slice(0, -1)}${
    String(micros - ms * 1000).padStart(3, "0")
  }Z`;
}

Deno.test("parseTimestampMicros() reads real dates and times, to the microsecond", () => {
  for (const [text, expected] of VALID) {
    const micros = parseTimestampMicros(text);
    assert.ok(micros !== undefined, `${text} is refused: ${timestampError(text)}`);
    assert.equal(isoMicros(micros), expected, text);
    assert.equal(parseTimestamp(text)?.getTime(), Math.floor(micros / 1000), text);
  }
});

Deno.test("parseTimestamp() refuses dates and times that do not exist, saying why", () => {
  for (const [text, why] of INVALID) {
    assert.equal(parseTimestamp(text), undefined, `${text} is accepted`);
    assert.equal(parseTimestampMicros(text), undefined, text);
    assert.match(timestampProblem(text)!, why, text);
    assert.ok(timestampError(text)!.includes(JSON.stringify(text)), timestampError(text));
  }
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

Deno.test("the CLI refuses a date that does not exist instead of rolling it over", async () => {
  const repo = await tempRepo();
  const materialize = async (start: string, end: string) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../cli/main.ts", import.meta.url).pathname,
        "materialize",
        start,
        end,
        "--repo",
        repo.dir,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 1, stderr);
    assert.doesNotMatch(stderr, /^\s+at /m);
    return stderr;
  };
  try {
    assert.match(
      await materialize("2001-02-30", "2001-03-05T00:00:00"),
      /expected an ISO 8601 time such as 2026-01-31T00:00:00Z, got "2001-02-30": February 2001 has 28 days/,
    );
  } finally {
    await repo.remove();
  }
});

Deno.test("FeatureStore refuses impossible dates in windows and in pushed rows", async () => {
  const repo = await tempRepo();
  try {
    await writeTable(join(repo.dir, "data/driver_stats.parquet"), {
      driver_id: [1001],
      event_timestamp: ["2001-03-01T00:00:00Z"],
      created: [null],
      conv_rate: [0.5],
      acc_rate: [0.5],
    }, {
      driver_id: "int64",
      event_timestamp: "timestamp",
      created: "timestamp",
      conv_rate: "float32",
      acc_rate: "float32",
    });
    const store = await FeatureStore.open({ repo: repo.dir });
    try {
      await store.apply();
      await assert.rejects(
        () =>
          store.getHistoricalFeatures({
            start: "2001-02-29T00:00:00Z",
            end: "2001-03-05T00:00:00Z",
            features: ["driver_hourly_stats:conv_rate"],
          }),
        { code: "INPUT_INVALID", message: /"2001-02-29T00:00:00Z": February 2001 has 28 days/ },
      );
      await assert.rejects(
        () =>
          store.writeToOnlineStore("driver_hourly_stats", {
            driver_id: [1001],
            event_timestamp: ["2001-04-31T00:00:00Z"],
            conv_rate: [0.5],
            acc_rate: [0.5],
          }),
        { code: "INPUT_INVALID", message: /"2001-04-31T00:00:00Z".*: April has 30 days/ },
      );
      await assert.rejects(
        () =>
          store.writeToOnlineStore("driver_hourly_stats", {
            driver_id: [1001],
            event_timestamp: ["2001-03-01T00:00:00Z"],
            created: ["2001-03-01T24:00:00Z"],
            conv_rate: [0.5],
            acc_rate: [0.5],
          }),
        { code: "INPUT_INVALID", message: /created timestamp "2001-03-01T24:00:00Z": hour 24/ },
      );
    } finally {
      await store.close();
    }
  } finally {
    await repo.remove();
  }
});

Deno.test("TIMESTAMP_PATTERN matches exactly the text parseTimestamp() accepts", () => {
  const pattern = new RegExp(`^(?:${TIMESTAMP_PATTERN})$`);
  const disagree: string[] = [];
  for (const text of timestampStrings(20260101, 50_000)) {
    if (pattern.test(text) !== (parseTimestamp(text) !== undefined)) disagree.push(text);
  }
  assert.deepEqual(disagree, []);
});

Deno.test("parseWindowBound() widens bounds finer than a millisecond, never narrowing the window", () => {
  assert.equal(
    parseWindowBound("2026-01-31T00:00:00.000500Z", "start")?.toISOString(),
    "2026-01-31T00:00:00.000Z",
  );
  assert.equal(
    parseWindowBound("2026-01-31T00:00:00.000500Z", "end")?.toISOString(),
    "2026-01-31T00:00:00.001Z",
  );
  assert.equal(
    parseWindowBound("2026-01-31T00:00:00.123Z", "end")?.toISOString(),
    "2026-01-31T00:00:00.123Z",
  );
  assert.equal(
    parseWindowBound("1969-12-31T23:59:59.9995Z", "start")?.toISOString(),
    "1969-12-31T23:59:59.999Z",
  );
  assert.equal(parseWindowBound("2001-02-30", "end"), undefined);
});
