// The part of `node:sqlite` (built into Deno) that the SQLite online store uses: the
// `@types/node` in Larder's dependency graph predates the module.
declare module "node:sqlite" {
  type SqlValue = null | number | bigint | string | Uint8Array;
  interface RunResult {
    changes: number | bigint;
    lastInsertRowid: number | bigint;
  }
  export class StatementSync {
    all(...params: SqlValue[]): unknown[];
    get(...params: SqlValue[]): unknown;
    run(...params: SqlValue[]): RunResult;
    setReturnArrays(enabled: boolean): void;
  }
  export class DatabaseSync {
    constructor(path: string, options?: { readonly open?: boolean; readonly readOnly?: boolean });
    readonly isTransaction: boolean;
    exec(sql: string): void;
    prepare(sql: string): StatementSync;
    close(): void;
  }
}
