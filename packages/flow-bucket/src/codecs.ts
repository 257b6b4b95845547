import { createNamespace } from "@flowstore/serializers";
import { z } from "zod";
import { FlowBucketDigestSchema } from "./flowBucketDigest.js";
import { FlowBucketSnapshotSchema } from "./flowBucketSnapshot.js";
import { DeviceDigestSchema } from "./flowBucketTable.js";
import { decodeEntries, FlowEntryReferenceSchema, FlowEntrySchema } from "./flowEntry.js";
import { FlowRuleSchema } from "./flowRule.js";
import { DeviceIdSchema, FlowIdSchema } from "./ids.js";
import { fastParser } from "./internal/fastDecode.js";
import { LogicalTimestampSchema, timestampedSchema } from "./logicalClock.js";

/** A list of entries, decoded without zod when every entry is in this package's own form. */
const FlowEntryListSchema = z.withParser(
  z.array(FlowEntryReferenceSchema),
  fastParser(decodeEntries),
);

/**
 * The codecs of the flow table's types, ids 200–299, for other namespaces to `.include()`.
 *
 * | id | type | value |
 * | --- | --- | --- |
 * | 200 | `DeviceId` | {@link DeviceId} |
 * | 201 | `FlowId` | {@link FlowId} (`bigint`, exact) |
 * | 202 | `FlowRule` | {@link FlowRule}, id checked against its identity |
 * | 203 | `FlowEntry` | {@link FlowEntry} |
 * | 204 | `LogicalTimestamp` | {@link LogicalTimestamp} |
 * | 205 | `FlowBucketDigest` | {@link FlowBucketDigest} |
 * | 206 | `FlowBucketDigests` | a list of them |
 * | 207 | `FlowBucket` | {@link FlowBucketSnapshot} |
 * | 208 | `TimestampedFlowBucket` | a bucket snapshot stamped by the sender's clock |
 * | 209 | `DeviceDigest` | {@link DeviceDigest} |
 * | 210 | `FlowEntries` | a list of entries |
 */
export const flowBucketNamespace = createNamespace("flow-bucket")
  .register(200, "DeviceId", DeviceIdSchema)
  .register(201, "FlowId", FlowIdSchema)
  .register(202, "FlowRule", FlowRuleSchema)
  .register(203, "FlowEntry", FlowEntrySchema)
  .register(204, "LogicalTimestamp", LogicalTimestampSchema)
  .register(205, "FlowBucketDigest", FlowBucketDigestSchema)
  .register(206, "FlowBucketDigests", z.array(FlowBucketDigestSchema))
  .register(207, "FlowBucket", FlowBucketSnapshotSchema)
  .register(208, "TimestampedFlowBucket", timestampedSchema(FlowBucketSnapshotSchema))
  .register(209, "DeviceDigest", DeviceDigestSchema)
  .register(210, "FlowEntries", FlowEntryListSchema)
  .build();
