/** Test helpers for the online tests. */

/** Counts `fetch` calls to URLs under `base` (the real transport still runs) until `restore()`. */
export function countFetches(base: string): {
  readonly count: number;
  readonly bodies: readonly string[];
  restore(): void;
} {
  const original = globalThis.fetch;
  const state = { count: 0, bodies: [] as string[] };
  globalThis.fetch = (input: string | URL | Request, init?: RequestInit) => {
    const url = input instanceof Request ? input.url : String(input);
    if (url.startsWith(base)) {
      state.count++;
      if (typeof init?.body === "string") state.bodies.push(init.body);
    }
    return original(input, init);
  };
  return {
    get count() {
      return state.count;
    },
    get bodies() {
      return state.bodies;
    },
    restore() {
      globalThis.fetch = original;
    },
  };
}
