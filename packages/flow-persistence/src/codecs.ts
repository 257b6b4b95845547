import { flowBucketNamespace, TermSchema } from "@flowstore/flow-bucket";
import { createNamespace } from "@flowstore/serializers";
import { z } from "zod";
import { EntryStructuresSchema } from "./entryCodec.js";

/** The on-disk format this code writes and reads. A directory of a newer one is refused. */
export const FORMAT = 1;

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
 * | 503 | `EntryStructures` | the object shapes stored entries share (see `EntryCodec`) |
 *
 * Stored entries are `FlowEntry` bytes with shared shapes, written by `EntryCodec`.
 */
export const persistenceNamespace = createNamespace("flow-persistence")
  .include(flowBucketNamespace)
  .register(500, "PersistenceHeader", PersistenceHeaderSchema)
  .register(501, "DeviceTerm", TermSchema)
  .register(502, "MetaValue", z.unknown())
  .register(503, "EntryStructures", EntryStructuresSchema)
  .build();
