/**
 * Query parameters of Feast's registry REST API, checked as FastAPI checks them (a bad value
 * is a 422 naming the parameter), and its two ways of paging a list: the registry server's
 * (`apply_pagination_and_sorting` in `sdk/python/feast/registry_server.py`, for one project's
 * lists) and the REST layer's (`paginate_and_sort` in `api/registry/rest/rest_utils.py`, for
 * the `/all` lists).
 */
import { LarderError, ownValue } from "../engine/mod.ts";

/** The query of one request. */
export type Query = (name: string) => string | undefined;

function invalid(name: string, expected: string, value: string): LarderError {
  return new LarderError(
    "INPUT_INVALID",
    `Invalid query parameter "${name}": expected ${expected}, got ${JSON.stringify(value)}`,
    { details: { parameter: name, value } },
  );
}

/** A required parameter (FastAPI's `Query(...)`). */
export function required(query: Query, name: string): string {
  const value = query(name);
  if (value === undefined) {
    throw new LarderError("INPUT_INVALID", `Missing query parameter "${name}"`, {
      details: { parameter: name },
    });
  }
  return value;
}

const TRUE = new Set(["true", "1", "yes", "on", "t", "y"]);
const FALSE = new Set(["false", "0", "no", "off", "f", "n"]);

/** A boolean parameter, with pydantic's spellings (`true`, `1`, `yes`, `on`, …). */
export function flag(query: Query, name: string, fallback = false): boolean {
  const value = query(name);
  if (value === undefined) return fallback;
  const lower = value.toLowerCase();
  if (TRUE.has(lower)) return true;
  if (FALSE.has(lower)) return false;
  throw invalid(name, "a boolean (true or false)", value);
}

function integer(query: Query, name: string, min: number, max?: number): number | undefined {
  const value = query(name);
  if (value === undefined) return undefined;
  const range = max === undefined ? `at least ${min}` : `from ${min} to ${max}`;
  if (!/^[+-]?\d+$/.test(value.trim())) throw invalid(name, `an integer ${range}`, value);
  const n = Number(value);
  if (n < min || (max !== undefined && n > max)) throw invalid(name, `an integer ${range}`, value);
  return n;
}

/** How a list is sorted and paged. `page`/`limit` 0: not paged. */
export interface Paging {
  readonly page: number;
  readonly limit: number;
  readonly sortBy: string;
  readonly sortOrder: "asc" | "desc";
}

/**
 * `page`, `limit`, `sort_by`, `sort_order` of one project's lists: each optional (`page` ≥ 1,
 * 1 ≤ `limit` ≤ 100, `sort_order` `asc` or `desc`); paged only when both are given.
 */
export function projectPaging(query: Query): Paging {
  const sortOrder = query("sort_order");
  if (sortOrder !== undefined && sortOrder !== "asc" && sortOrder !== "desc") {
    throw invalid("sort_order", '"asc" or "desc"', sortOrder);
  }
  return {
    page: integer(query, "page", 1) ?? 0,
    limit: integer(query, "limit", 1, 100) ?? 0,
    sortBy: query("sort_by") ?? "",
    sortOrder: sortOrder ?? "asc",
  };
}

/** The same for the `/all` lists: always paged, `page` 1 and `limit` 50 by default. */
export function allPaging(query: Query): Paging {
  return {
    page: integer(query, "page", 1) ?? 1,
    limit: integer(query, "limit", 1, 100) ?? 50,
    sortBy: query("sort_by") ?? "",
    // Not checked on these routes: anything but "desc" sorts ascending.
    sortOrder: query("sort_order") === "desc" ? "desc" : "asc",
  };
}

/** `?tags=key:value&tags=…` as a map (values without a colon are ignored, as in Feast). */
export function tagsOf(values: readonly string[]): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const tag of values) {
    const at = tag.indexOf(":");
    if (at >= 0) tags[tag.slice(0, at)] = tag.slice(at + 1);
  }
  return tags;
}

/** Whether `tags` hold every one of `wanted` (Feast's `has_all_tags`). */
export function hasAllTags(
  tags: Readonly<Record<string, string>>,
  wanted: Readonly<Record<string, string>>,
): boolean {
  return Object.entries(wanted).every(([k, v]) => Object.hasOwn(tags, k) && tags[k] === v);
}

/** `PaginationMetadata` as protobuf JSON prints it (fields at zero or false left out). */
export type PaginationJson = {
  page?: number;
  limit?: number;
  totalCount?: number;
  totalPages?: number;
  hasNext?: true;
  hasPrevious?: true;
};

type SortKey = readonly [string, number, number | null];

/** Feast's sort key: missing values first, strings case-insensitively, then numbers. */
function sortKey(value: unknown): SortKey {
  if (value === undefined || value === null) return ["", 0, null];
  if (typeof value === "string") return [value.toLowerCase(), 1, null];
  if (typeof value === "number") return ["", 1, value];
  if (typeof value === "boolean") return ["", 1, value ? 1 : 0];
  return [(JSON.stringify(value) ?? "").toLowerCase(), 1, null];
}

class Incomparable extends Error {}

function compareKeys(a: SortKey, b: SortKey): number {
  if (a[0] !== b[0]) return a[0] < b[0] ? -1 : 1;
  if (a[1] !== b[1]) return a[1] - b[1];
  if (a[2] === b[2]) return 0;
  // Python compares None with a number by raising: Feast then leaves the list unsorted.
  if (a[2] === null || b[2] === null) throw new Incomparable();
  return a[2] - b[2];
}

/** `items` sorted by `valueOf`, or unsorted where Feast's sort fails. Stable, like Python's. */
function sorted<T>(items: readonly T[], valueOf: (item: T) => unknown, desc: boolean): T[] {
  const keyed = items.map((item) => ({ item, key: sortKey(valueOf(item)) }));
  try {
    keyed.sort((a, b) => desc ? compareKeys(b.key, a.key) : compareKeys(a.key, b.key));
  } catch (err) {
    if (err instanceof Incomparable) return [...items];
    throw err;
  }
  return keyed.map((k) => k.item);
}

/** The value at a dotted path (`spec.name`) of `obj`, or `undefined`. */
export function atPath(obj: unknown, path: string): unknown {
  let current = obj;
  for (const part of path.split(".")) {
    if (current === null || typeof current !== "object" || !Object.hasOwn(current, part)) {
      return undefined;
    }
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

/** One page of a project's list, as the registry server pages it. */
export function registryPage<T>(
  items: readonly T[],
  paging: Paging,
  valueOf: (item: T, path: string) => unknown,
): { items: T[]; pagination: PaginationJson } {
  if (items.length === 0) return { items: [], pagination: {} };
  const all = paging.sortBy.trim()
    ? sorted(items, (item) => valueOf(item, paging.sortBy), paging.sortOrder === "desc")
    : [...items];
  const total = all.length;
  if (paging.page > 0 && paging.limit > 0) {
    const start = (paging.page - 1) * paging.limit;
    const totalPages = Math.ceil(total / paging.limit);
    return {
      items: all.slice(start, start + paging.limit),
      pagination: {
        page: paging.page,
        limit: paging.limit,
        totalCount: total,
        totalPages,
        ...(paging.page < totalPages ? { hasNext: true as const } : {}),
        ...(paging.page > 1 ? { hasPrevious: true as const } : {}),
      },
    };
  }
  return { items: all, pagination: { totalCount: total, totalPages: 1 } };
}

/** One page of an `/all` list, as Feast's REST layer pages it (top-level keys only). */
export function allPage<T extends Record<string, unknown>>(
  items: readonly T[],
  paging: Paging,
): { items: T[]; pagination: PaginationJson } {
  const all = paging.sortBy
    ? sorted(items, (item) => ownValue(item, paging.sortBy) ?? "", paging.sortOrder === "desc")
    : [...items];
  const total = all.length;
  const start = (paging.page - 1) * paging.limit;
  const end = start + paging.limit;
  const totalPages = Math.ceil(total / paging.limit);
  const pagination: PaginationJson = { page: paging.page, limit: paging.limit };
  if (total) pagination.totalCount = total;
  if (totalPages) pagination.totalPages = totalPages;
  if (end < total) pagination.hasNext = true;
  if (start > 0) pagination.hasPrevious = true;
  return { items: all.slice(start, end), pagination };
}
