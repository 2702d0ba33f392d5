import assert from "node:assert/strict";
import { clusterBucket, clusterSlot, commandKey, parseClusterSlots } from "./cluster_slot.ts";

Deno.test("clusterSlot() gives Redis's slots, hash tags included", () => {
  // Values from the Redis Cluster specification and CLUSTER KEYSLOT.
  assert.equal(clusterSlot("123456789"), 12739);
  assert.equal(clusterSlot("foo"), 12182);
  assert.equal(clusterSlot("bar"), 5061);
  assert.equal(clusterSlot("{user1000}.following"), clusterSlot("user1000"));
  assert.equal(clusterSlot("{user1000}.followers"), 3443);
  // An empty tag, or a brace never closed, hashes the whole key.
  assert.equal(clusterSlot("a{}b"), 13694);
  assert.equal(clusterSlot("no{close"), clusterSlot("no{close"));
  assert.notEqual(clusterSlot("no{close"), clusterSlot("close"));
  // Only the first tag counts; the key is hashed as UTF-8 bytes.
  assert.equal(clusterSlot("x{a}b{c}"), clusterSlot("a"));
  assert.equal(clusterSlot("larder:p:v1:{42}driver_id=7"), clusterSlot("larder:p:v2:{42}x"));
  assert.equal(clusterSlot("ü{tag}x"), clusterSlot("tag"));
});

Deno.test("commandKey() names the key that places a command", () => {
  assert.equal(commandKey(["GET", "k"]), "k");
  assert.equal(commandKey(["mget", "a", "b"]), "a");
  assert.equal(commandKey(["EVALSHA", "sha", "2", "k1", "k2", "arg"]), "k1");
  assert.equal(commandKey(["EVAL", "return 1", "0"]), undefined);
  assert.equal(commandKey(["SCAN", "0"]), undefined);
  assert.equal(commandKey(["CLUSTER", "SLOTS"]), undefined);
});

Deno.test("parseClusterSlots() maps slots to masters and knows the replicas", () => {
  const map = parseClusterSlots([
    [0, 5460, ["127.0.0.1", 7000, "id0"], ["127.0.0.1", 7003, "id3"]],
    [5461, 10922, ["", 7001, "id1"]],
    [10923, 16383, ["127.0.0.1", 7002, "id2"]],
  ], "10.0.0.1:7001");
  assert.equal(map.owners[0], "127.0.0.1:7000");
  assert.equal(map.owners[5461], "10.0.0.1:7001");
  assert.equal(map.owners[16383], "127.0.0.1:7002");
  assert.deepEqual(map.masters, ["127.0.0.1:7000", "10.0.0.1:7001", "127.0.0.1:7002"]);
  assert.ok(map.known.has("127.0.0.1:7003"));
  assert.throws(() => parseClusterSlots([], "h:1"), /serves no slots/);
});

Deno.test("clusterBucket() spreads entity keys over 1024 buckets, evenly", () => {
  assert.equal(clusterBucket("123456789"), 12739 % 1024);
  const counts = new Array(1024).fill(0);
  for (let i = 0; i < 102_400; i++) counts[clusterBucket(`driver_id=${i}`)]++;
  assert.ok(
    Math.max(...counts) < 200 && Math.min(...counts) > 50,
    `${Math.min(...counts)}..${Math.max(...counts)}`,
  );
});
