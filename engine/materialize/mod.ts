/**
 * @module
 * Materialization: copies the newest row per entity key of online feature views from their
 * sources to the online store, streaming batches from the offline engine, and records each
 * view's window in the registry once all its rows are written.
 *
 * @example
 * ```ts ignore
 * import { materialize, terminalProgress } from "./mod.ts";
 * const result = await materialize(
 *   { registry, online, offline: () => store.offlineStore(), repoDir },
 *   { start: new Date("2024-01-01T00:00:00Z"), end: new Date(), onProgress: terminalProgress() },
 * );
 * console.log(result.views);
 * ```
 */
export {
  incrementalStart,
  materialize,
  type MaterializeCommonOptions,
  type MaterializeDeps,
  materializeIncremental,
  type MaterializeIncrementalOptions,
  type MaterializeOptions,
  type MaterializeProgress,
  type MaterializeResult,
  type MaterializeWindow,
  type ViewMaterialization,
} from "./materialize.ts";
export {
  breakViewLocks,
  type BreakViewLocksOptions,
  type BrokenViewLock,
  viewLockName,
  type ViewLocksOptions,
  withViewLocks,
} from "./view_locks.ts";
export {
  progressLine,
  type ProgressOutput,
  terminalProgress,
  type TerminalProgressOptions,
} from "./terminal_progress.ts";
