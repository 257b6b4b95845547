import { NodeIdSchema } from "@flowstore/cluster-messaging";
import {
  DeviceIdSchema,
  FLOW_ENTRY_STATES,
  FlowBucketDeltaSchema,
  FlowBucketDigestSchema,
  FlowBucketSnapshotSchema,
  FlowEntrySchema,
  FlowIdSchema,
  FlowRuleSchema,
  flowBucketNamespace,
  LogicalTimestampSchema,
  TermSchema,
} from "@flowstore/flow-bucket";
import { createNamespace } from "@flowstore/serializers";
import { z } from "zod";

/** One operation of a batch: add a rule, replace it, or mark it for removal. */
export const FlowRuleOperationSchema = z.object({
  operator: z.enum(["ADD", "MODIFY", "REMOVE"]),
  rule: FlowRuleSchema,
});
/** One operation of a batch. */
export type FlowRuleOperation = z.output<typeof FlowRuleOperationSchema>;

/** Operations on one device's flow rules, applied by its master, completed by the device. */
export const FlowRuleBatchSchema = z.object({
  /** Unique in the cluster: the asking node's id and a counter. */
  id: z.string().min(1),
  deviceId: DeviceIdSchema,
  operations: z.array(FlowRuleOperationSchema),
});
/** Operations on one device's flow rules. */
export type FlowRuleBatch = z.output<typeof FlowRuleBatchSchema>;

/** The outcome of a batch on the device. */
export const BatchCompletionSchema = z.object({
  batchId: z.string().min(1),
  deviceId: DeviceIdSchema,
  success: z.boolean(),
  /** The rules the device failed to apply. */
  failed: z.array(FlowRuleSchema),
});
/** The outcome of a batch on the device. */
export type BatchCompletion = z.output<typeof BatchCompletionSchema>;

/** A device's term and clock, as the sender knows them: on every replication message. */
const stamp = { deviceId: DeviceIdSchema, term: TermSchema, clock: LogicalTimestampSchema };

/**
 * Master → backup: changed buckets of many devices in one message, each whole or as a delta
 * from the version the backup acknowledged.
 */
export const BackupRequestSchema = z.object({
  devices: z.array(
    z.object({
      ...stamp,
      buckets: z.array(FlowBucketSnapshotSchema),
      deltas: z.array(FlowBucketDeltaSchema),
    }),
  ),
});

/** Backup → master: one verdict per device of the request, in order. */
export const BackupReplySchema = z.object({
  devices: z.array(
    z.discriminatedUnion("accepted", [
      z.object({
        accepted: z.literal(true),
        term: TermSchema,
        /** Buckets whose delta did not apply (the backup's copy is not the delta's base): send them whole. */
        missingBase: z.array(z.number().int().min(0)).readonly(),
      }),
      z.object({
        accepted: z.literal(false),
        /** STALE_TERM: the backup knows a newer term; UNKNOWN_TERM: it has not learned this one yet. */
        reason: z.enum(["STALE_TERM", "UNKNOWN_TERM"]),
        /** The backup's current term for the device. */
        term: TermSchema,
      }),
    ]),
  ),
});

/** Master → backup, anti-entropy: a summary checksum per device, a few bytes for an idle one. */
export const SummaryRequestSchema = z.object({
  devices: z.array(z.object({ ...stamp, checksum: z.number().int().min(0) })),
});

/** Backup → master: bucket digests of the devices whose summary differs. */
export const SummaryReplySchema = z.object({
  devices: z.array(
    z.object({
      deviceId: DeviceIdSchema,
      term: TermSchema,
      digests: z.array(FlowBucketDigestSchema),
    }),
  ),
});

/** New master → previous replica: "which buckets of this device do you have?" */
export const SyncDigestsRequestSchema = z.object(stamp);
export const SyncDigestsReplySchema = z.object({
  clock: LogicalTimestampSchema,
  digests: z.array(FlowBucketDigestSchema),
  /** The newest term the replica saw become active, with its master and backups. */
  activated: z
    .object({
      term: TermSchema,
      master: NodeIdSchema.optional(),
      backups: z.array(NodeIdSchema),
    })
    .nullable(),
});

/** New master → previous replica: "send me these buckets." */
export const SyncBucketsRequestSchema = z.object({
  ...stamp,
  buckets: z.array(z.number().int().min(0)),
});
export const SyncBucketsReplySchema = z.object({
  clock: LogicalTimestampSchema,
  buckets: z.array(FlowBucketSnapshotSchema),
});

/**
 * Any node → master: apply batches on behalf of `origin` — every batch it forwarded to this
 * master within one turn of the event loop, for any of the master's devices, in one message.
 */
export const ApplyBatchesRequestSchema = z.object({
  origin: NodeIdSchema,
  batches: z.array(
    z.object({
      /** The term the asking node believes current; a master with an older one refuses. */
      term: TermSchema,
      batch: FlowRuleBatchSchema,
    }),
  ),
});

/** Master → asking node: per batch of the request, in order, whether it was stored. */
export const ApplyBatchesReplySchema = z.object({
  results: z.array(
    z.discriminatedUnion("ok", [
      /**
       * Stored. With `replication: "sync"`: how many backups held it when it was
       * acknowledged, and whether that was fewer than `minSyncBackups`.
       */
      z.object({
        ok: z.literal(true),
        backedUpBy: z.number().int().min(0).optional(),
        degraded: z.boolean().optional(),
      }),
      /** The master refused the batch (not stored): `code` says why (`NOT_MASTER`, `STALE_TERM`…). */
      z.object({ ok: z.literal(false), code: z.string(), message: z.string() }),
    ]),
  ),
});

/** Master → asking node: batches it asked for completed (every completion of a turn, one message). */
export const BatchesCompletedSchema = z.object({ completions: z.array(BatchCompletionSchema) });

/** A flow table's statistics, as the device reports them. */
export const TableStatisticsSchema = z.object({
  tableId: z.number().int().min(0),
  activeFlowEntries: z.number().int().min(0),
  packetsLookedUp: z.number().int().min(0),
  packetsMatched: z.number().int().min(0),
});
/** A flow table's statistics. */
export type TableStatistics = z.output<typeof TableStatisticsSchema>;

/** Any node → master: a read of one device. */
export const ReadRequestSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("ENTRY"), deviceId: DeviceIdSchema, rule: FlowRuleSchema }),
  z.object({ kind: z.literal("ENTRY_BY_ID"), deviceId: DeviceIdSchema, flowId: FlowIdSchema }),
  z.object({
    kind: z.literal("ENTRIES"),
    deviceId: DeviceIdSchema,
    /** First bucket to read. */
    fromBucket: z.number().int().min(0),
    /** Stop after the bucket that brings the page to this many entries. */
    maxEntries: z.number().int().min(1),
  }),
  z.object({
    kind: z.literal("COUNT"),
    deviceId: DeviceIdSchema,
    state: z.enum(FLOW_ENTRY_STATES).optional(),
  }),
  z.object({ kind: z.literal("TABLE_STATS"), deviceId: DeviceIdSchema }),
]);

export const ReadReplySchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("ENTRY"), entry: FlowEntrySchema.nullable() }),
  z.object({
    kind: z.literal("ENTRIES"),
    entries: z.array(FlowEntrySchema),
    /** The next bucket to ask for, or null at the end of the table. */
    nextBucket: z.number().int().min(0).nullable(),
  }),
  z.object({ kind: z.literal("COUNT"), count: z.number().int().min(0) }),
  z.object({ kind: z.literal("TABLE_STATS"), tables: z.array(TableStatisticsSchema) }),
]);

/** Any node → master: a single-rule change. */
export const RuleChangeRequestSchema = z.object({
  term: TermSchema,
  change: z.discriminatedUnion("kind", [
    z.object({ kind: z.literal("ADD_OR_UPDATE"), entry: FlowEntrySchema }),
    z.object({ kind: z.literal("PENDING"), entry: FlowEntrySchema }),
    z.object({ kind: z.literal("REMOVE"), entry: FlowEntrySchema }),
    z.object({ kind: z.literal("PURGE"), deviceId: DeviceIdSchema }),
    z.object({ kind: z.literal("PURGE_APP"), deviceId: DeviceIdSchema, appId: z.number().int() }),
    z.object({
      kind: z.literal("TABLE_STATS"),
      deviceId: DeviceIdSchema,
      tables: z.array(TableStatisticsSchema),
    }),
  ]),
});

/** The entry a change produced, and how (null: nothing changed). */
export const RuleChangeReplySchema = z.object({
  event: z
    .object({
      type: z.enum(["RULE_ADDED", "RULE_UPDATED", "RULE_REMOVED"]),
      entry: FlowEntrySchema,
    })
    .nullable(),
  removed: z.number().int().min(0),
});

/** An empty acknowledgement. */
export const AckSchema = z.object({ ok: z.literal(true) });

/**
 * Every message of the store, ids 300–399, over the flow-bucket types it includes. Its
 * fingerprint goes into the cluster handshake.
 */
export const storeNamespace = createNamespace("ec-flow-store")
  .include(flowBucketNamespace)
  .register(300, "BackupRequest", BackupRequestSchema)
  .register(301, "BackupReply", BackupReplySchema)
  .register(302, "SummaryRequest", SummaryRequestSchema)
  .register(303, "SummaryReply", SummaryReplySchema)
  .register(304, "SyncDigestsRequest", SyncDigestsRequestSchema)
  .register(305, "SyncDigestsReply", SyncDigestsReplySchema)
  .register(306, "SyncBucketsRequest", SyncBucketsRequestSchema)
  .register(307, "SyncBucketsReply", SyncBucketsReplySchema)
  .register(308, "ApplyBatchesRequest", ApplyBatchesRequestSchema)
  .register(309, "BatchesCompleted", BatchesCompletedSchema)
  .register(310, "ReadRequest", ReadRequestSchema)
  .register(311, "ReadReply", ReadReplySchema)
  .register(312, "RuleChangeRequest", RuleChangeRequestSchema)
  .register(313, "RuleChangeReply", RuleChangeReplySchema)
  .register(314, "Ack", AckSchema)
  .register(315, "ApplyBatchesReply", ApplyBatchesReplySchema)
  .build();

/** Names of the store's message types. */
export type StoreMessageType = Parameters<typeof storeNamespace.serializer>[0];
