import { CodedError } from "@flowstore/serializers";

/** Why a data directory was refused, or why a persistence operation failed. */
export type PersistenceErrorCode =
  /** The directory belongs to another cluster: its meta record names a different cluster. */
  | "FOREIGN_CLUSTER"
  /** The directory belongs to another node of this cluster. */
  | "FOREIGN_NODE"
  /** The directory was written by a newer on-disk format than this code reads. */
  | "NEWER_FORMAT"
  /**
   * The directory or a record in it cannot be read: not an LMDB file, a meta record that does
   * not validate, a bucket record, head or term whose bytes fail their codec or do not fit
   * together (or, in a format 1 directory to migrate, an entry or stamp).
   */
  | "CORRUPT"
  /** The directory holds files that are not flowstore's, and no flowstore data. */
  | "NOT_A_DATA_DIR"
  /** The directory is open already in this process (lmdb would share one environment). */
  | "IN_USE"
  /**
   * A commit failed (the changes stay staged and are tried again at the next interval), or the
   * migration of a format 1 directory did (the directory is left as it was).
   */
  | "WRITE_FAILED"
  /** The persistence is closed. */
  | "CLOSED";

/** Where on disk a {@link PersistenceError} was found, as far as it is known. */
export interface PersistenceErrorOptions {
  /** The data directory. */
  readonly dir: string;
  /** The device whose record failed, for errors about one record. */
  readonly device?: string | undefined;
  /** The bucket whose record failed, for errors about one record. */
  readonly bucket?: number | undefined;
  readonly cause?: unknown;
}

/**
 * The typed error of `@flowstore/flow-persistence`: a refused data directory, an unreadable
 * record, a failed commit. `PersistenceError.is(error, code?)` is the guard (from
 * `CodedError`, the base of every flowstore error).
 *
 * @remarks `open` refuses a directory rather than repair or overwrite it: a node that
 * started on another node's or another cluster's tables, or on a half-readable copy, would
 * serve them as its own. The message names the directory and what is wrong, so the operator
 * can move it away.
 */
export class PersistenceError extends CodedError<PersistenceErrorCode> {
  override readonly name = "PersistenceError";
  readonly dir: string;
  readonly device: string | undefined;
  readonly bucket: number | undefined;

  constructor(code: PersistenceErrorCode, message: string, options: PersistenceErrorOptions) {
    super(code, message, options.cause === undefined ? {} : { cause: options.cause });
    this.dir = options.dir;
    this.device = options.device;
    this.bucket = options.bucket;
  }
}
