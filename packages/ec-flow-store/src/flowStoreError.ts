import { MessagingError } from "@flowstore/cluster-messaging";
import { CodedError, messageOf } from "@flowstore/serializers";

/** Why a store operation failed. */
export type FlowStoreErrorCode =
  /** The device has no master right now, and it is available, so a local answer could mislead. */
  | "NO_MASTER"
  /** The local node is not the device's master (an operation only the master may do). */
  | "NOT_MASTER"
  /** The master did not answer within the request timeout. */
  | "TIMEOUT"
  /** A message carried an older term than the receiver's: the sender was deposed. */
  | "STALE_TERM"
  /** A configuration value was refused; the old value stays. */
  | "INVALID_CONFIG"
  /** A request was malformed. */
  | "INVALID_ARGUMENT"
  /** The master could not be reached or failed to handle the request. */
  | "UNAVAILABLE"
  /**
   * This node has `maxPendingOperations` writes on their way to masters already: the write
   * was not taken (nothing stored); try again shortly.
   */
  | "OVERLOADED"
  /**
   * `replication: "sync"` with `underReplicated: "refuse"`: fewer than `minSyncBackups`
   * backups are alive (nothing was stored), or they did not acknowledge a write in time (it
   * was applied on the master and may or may not be kept).
   */
  | "UNDER_REPLICATED"
  /** The store is closed. */
  | "CLOSED";

/** The typed error every store operation rejects with. */
export class FlowStoreError extends CodedError<FlowStoreErrorCode> {
  override readonly name = "FlowStoreError";

  /**
   * The one conversion of anything thrown into a store error: a `FlowStoreError` stays as it
   * is; a messaging timeout becomes `TIMEOUT`; anything else `UNAVAILABLE` (the master could
   * not be reached or failed), its message after `context`.
   */
  static from(error: unknown, context: string): FlowStoreError {
    if (error instanceof FlowStoreError) return error;
    const code = MessagingError.is(error, "TIMEOUT") ? "TIMEOUT" : "UNAVAILABLE";
    return new FlowStoreError(code, `${context}: ${messageOf(error)}`, { cause: error });
  }
}
