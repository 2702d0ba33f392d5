/** The plug-in point for the online store (low-latency serving of the latest values). */

/**
 * An online store. Implementations pass `tests/contracts/online_store_contract.ts`.
 */
export interface OnlineStore {
  /** Removes every stored row of these feature views. */
  deleteViews(views: readonly string[]): Promise<void>;
  /** Removes every stored row of the project. */
  deleteAll(): Promise<void>;
  /** Releases connections. */
  close(): Promise<void>;
}
