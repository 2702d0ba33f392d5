/**
 * `ShapeCache`: remembers what was worked out for a request shape (which features, which
 * service, which options) against one registry document, so that a server answering the
 * same shape thousands of times a second resolves it once per registry version.
 *
 * Entries hang off the document object (a `WeakMap`): a new registry version starts empty and
 * an old one is collected with its entries. Each document keeps at most `limit` shapes; past
 * that the oldest is dropped, and a shape longer than `maxShapeLength` characters is never
 * kept, so callers sending endless or enormous distinct shapes cost at most
 * `limit × maxShapeLength` characters of keys per document. Only successful results are kept: a
 * shape that fails is worked out (and fails with its message) every time.
 */
export class ShapeCache<V> {
  readonly #byOwner = new WeakMap<object, Map<string, V>>();
  readonly #limit: number;
  readonly #maxShapeLength: number;

  constructor(limit = 512, maxShapeLength = 4096) {
    this.#limit = limit;
    this.#maxShapeLength = maxShapeLength;
  }

  /** The value for `shape` under `owner`, computing it with `make` on a miss. */
  get(owner: object, shape: string, make: () => V): V {
    if (shape.length > this.#maxShapeLength) return make();
    let entries = this.#byOwner.get(owner);
    if (!entries) {
      entries = new Map();
      this.#byOwner.set(owner, entries);
    }
    const hit = entries.get(shape);
    if (hit !== undefined) return hit;
    const value = make();
    if (entries.size >= this.#limit) entries.delete(entries.keys().next().value!);
    entries.set(shape, value);
    return value;
  }
}
