import {
  FlowEntrySchema,
  FlowIdSchema,
  flowBucketNamespace,
  LogicalTimestampSchema,
  TermSchema,
} from "@flowstore/flow-bucket";
import { createNamespace } from "@flowstore/serializers";
import { z } from "zod";
import { EntryStructuresSchema } from "./recordCodec.js";

/**
 * The on-disk format this code writes and reads. A directory of a newer one is refused; one of
 * format 1 (a record per entry) is migrated when it is opened; one of format 2 (bucket records
 * without checksums) is marked format 3 when it is opened, its records read as they are and
 * replaced by checked ones as its buckets change.
 */
export const FORMAT = 3;

/** Schema of the meta record that says whose a data directory is. */
export const PersistenceHeaderSchema = z.object({
  /** The on-disk format ({@link FORMAT}). */
  format: z.number().int().min(1),
  /** The cluster whose node wrote the directory. */
  cluster: z.string().min(1),
  /** The node that wrote the directory. */
  node: z.string().min(1),
  /** When the directory was initialised (ms since the epoch). */
  createdAt: z.number().int().min(0),
});

/** The meta record of a data directory: its format, cluster and node, and when it was made. */
export type PersistenceHeader = z.infer<typeof PersistenceHeaderSchema>;

const count = z.number().int().min(0);

/**
 * Schema of a bucket's head: its stamp, how many flows it holds, and the sizes of its records
 * (what compaction decides on). Written with every change of the bucket, in its transaction.
 */
export const BucketHeadSchema = z.object({
  bucket: count,
  term: TermSchema,
  timestamp: LogicalTimestampSchema,
  /** Flows in the bucket: its base's, with its changes applied. */
  flows: count,
  /** Bytes of its base record. */
  baseBytes: count,
  /** How many change records follow the base (keys 1 … changes). */
  changes: count,
  /** Bytes of those change records together. */
  changeBytes: count,
});

/** A bucket's head (see {@link BucketHeadSchema}). */
export type BucketHead = z.infer<typeof BucketHeadSchema>;

/**
 * Schema of a bucket's change record: a list whose first element is the flow ids removed and
 * whose others are the entries stored or replaced (as they are now), applied in that order
 * over the base and the changes before it (an id in both is stored). Written by `RecordCodec`
 * with shared shapes; this schema documents it for tools.
 */
export const BucketChangesSchema = z.tuple([z.array(FlowIdSchema)]).rest(FlowEntrySchema);

/**
 * The codecs of every record on disk, ids 500–599 over the flow-bucket types it includes:
 * disk bytes are validated on read exactly as network bytes are.
 *
 * | id | type | value |
 * | --- | --- | --- |
 * | 205 | `FlowBucketDigest` | a bucket's stamp: its index, term and timestamp |
 * | 500 | `PersistenceHeader` | {@link PersistenceHeader} |
 * | 501 | `DeviceTerm` | the highest term seen for a device |
 * | 502 | `MetaValue` | a value of `setMeta` (any msgpack value) |
 * | 503 | `EntryStructures` | the object shapes stored entries share (see `RecordCodec`) |
 * | 504 | `BucketHead` | {@link BucketHead} |
 * | 505 | `BucketChanges` | a bucket's change record (see {@link BucketChangesSchema}) |
 * | 506 | checked `FlowEntries` | a base record with the CRC-32 of its bytes (see `RecordCodec`) |
 * | 507 | checked `BucketChanges` | a change record with the CRC-32 of its bytes |
 *
 * A bucket's base record is flow-bucket's `FlowEntries` list and its change records are
 * `BucketChanges`, both written with shared shapes by `RecordCodec`, with a checksum (506,
 * 507) since format 3 and without (210, 505) in format 2; format 1's entries were `FlowEntry`
 * (203), its stamps `FlowBucketDigest` (205).
 */
export const persistenceNamespace = createNamespace("flow-persistence")
  .include(flowBucketNamespace)
  .register(500, "PersistenceHeader", PersistenceHeaderSchema)
  .register(501, "DeviceTerm", TermSchema)
  .register(502, "MetaValue", z.unknown())
  .register(503, "EntryStructures", EntryStructuresSchema)
  .register(504, "BucketHead", BucketHeadSchema)
  .register(505, "BucketChanges", BucketChangesSchema)
  .build();
