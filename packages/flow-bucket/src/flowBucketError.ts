import { CodedError } from "@flowstore/serializers";

/** Why a bucket refused a change. */
export type FlowBucketErrorCode =
  /** The change was made in an older term than the bucket's last change. */
  | "STALE_TERM"
  /** An update function replaced an entry with one of a different rule. */
  | "RULE_CHANGED"
  /** A bucket's configuration or a bucket index is out of range. */
  | "INVALID_BUCKET"
  /** An entry of another device was given to a device's table. */
  | "WRONG_DEVICE";

/**
 * A change a bucket or a table refused because it would break an invariant.
 *
 * @remarks `STALE_TERM` is the bucket's last line of defence for fencing: a deposed master
 * that has not noticed yet cannot stamp a bucket that a newer term already changed.
 */
export class FlowBucketError extends CodedError<FlowBucketErrorCode> {
  override readonly name = "FlowBucketError";
}
