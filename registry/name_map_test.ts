import assert from "node:assert/strict";
import { expandActions } from "./definitions/permission.ts";
import { FileRegistryBackend } from "./file_backend.ts";
import { emptyDocument, findObject, objectOf } from "./document.ts";
import { nameMap, ownValue, refuseReservedName } from "./name_map.ts";
import { Registry } from "./registry.ts";

const PROTOTYPE_NAMES = ["__proto__", "hasOwnProperty", "valueOf", "toString", "constructor"];

Deno.test("nameMap() holds any name as an own key, __proto__ included", () => {
  const map = nameMap([["__proto__", 1], ["constructor", 2]]);
  assert.equal(Object.getPrototypeOf(map), null);
  assert.deepEqual(Object.keys(map), ["__proto__", "constructor"]);
  assert.equal(ownValue(map, "__proto__"), 1);
  assert.equal(ownValue(map, "toString"), undefined);
});

Deno.test("ownValue() sees only own properties of ordinary objects", () => {
  const plain: Record<string, number> = { a: 1 };
  for (const name of PROTOTYPE_NAMES) assert.equal(ownValue(plain, name), undefined, name);
  assert.equal(ownValue(plain, "a"), 1);
});

Deno.test("refuseReservedName() refuses an own __proto__ key and nothing else", () => {
  refuseReservedName({ constructor: [1], toString: [2] }, "column");
  refuseReservedName({ __proto__: [1] }, "column"); // a literal sets the prototype: no key
  assert.throws(() => refuseReservedName(JSON.parse('{"__proto__": [1]}'), "entity column"), {
    code: "INPUT_INVALID",
    message: 'Invalid entity column "__proto__": the name is reserved',
  });
});

Deno.test("findObject() and objectOf() find only the document's own objects", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const registry = new Registry(new FileRegistryBackend(`${dir}/registry.json`), {
      project: "p",
      cacheTtlSeconds: 0,
    });
    const empty = emptyDocument("p");
    empty.objects.entity.driver = {
      spec: {
        name: "driver",
        description: "",
        tags: {},
        owner: "",
        joinKeys: ["driver_id"],
        valueType: "int64",
      },
      meta: { createdAt: "", updatedAt: "", hash: "" },
    };
    // commit() after structuredClone (as update() does) still stores maps without a prototype.
    await registry.commit(await registry.read(), structuredClone(empty));
    for (const doc of [empty, registry.peek()!, await registry.read({ fresh: true })]) {
      assert.equal(Object.getPrototypeOf(doc.objects.featureView), null);
      assert.equal(Object.getPrototypeOf(doc.materializations), null);
      assert.ok(findObject(doc, "entity", "driver"));
      for (const name of PROTOTYPE_NAMES) {
        assert.equal(findObject(doc, "entity", name), undefined, name);
        assert.throws(() => objectOf(doc, "entity", name), {
          code: "NOT_FOUND",
          message: `Cannot find entity "${name}": the registry has "driver"`,
        });
      }
    }
    for (const name of PROTOTYPE_NAMES) {
      await assert.rejects(registry.get("featureView", name), { code: "NOT_FOUND" });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("expandActions() keeps names that are no alias, Object.prototype's included", () => {
  assert.deepEqual(expandActions(["READ", "DESCRIBE"]), [
    "DESCRIBE",
    "READ_ONLINE",
    "READ_OFFLINE",
  ]);
  assert.deepEqual(expandActions(["constructor", "toString"]), []);
});
