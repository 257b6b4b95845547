export { flowBucketNamespace } from "./codecs.js";
export type { Criterion, CriterionType } from "./criterion.js";
export {
  CHANNEL_SPACINGS,
  CriterionSchema,
  criterionToJson,
  GRID_TYPES,
  OCH_SIGNAL_TYPES,
  ODU_SIGNAL_TYPES,
  selectorToJson,
} from "./criterion.js";
export type { BucketChangeListener, FlowStateCounts, PurgeFilter } from "./flowBucket.js";
export { emptyStateCounts, FlowBucket } from "./flowBucket.js";
export type { FlowBucketDelta } from "./flowBucketDelta.js";
export { FlowBucketDeltaSchema } from "./flowBucketDelta.js";
export type { FlowBucketDigest, Term } from "./flowBucketDigest.js";
export {
  compareDigests,
  emptyDigest,
  FlowBucketDigestSchema,
  isNewerThan,
  TermSchema,
} from "./flowBucketDigest.js";
export type { FlowBucketErrorCode } from "./flowBucketError.js";
export { FlowBucketError } from "./flowBucketError.js";
export type { DeferredFlowBucket, FlowBucketSnapshot } from "./flowBucketSnapshot.js";
export { FlowBucketSnapshotSchema, isDeferred } from "./flowBucketSnapshot.js";
export type { DeviceDigest, FlowBucketTableOptions } from "./flowBucketTable.js";
export {
  DEFAULT_BUCKET_COUNT,
  DeviceDigestSchema,
  FlowBucketTable,
  MAX_BUCKET_COUNT,
} from "./flowBucketTable.js";
export type {
  FlowCounters,
  FlowEntry,
  FlowEntryInit,
  FlowEntryState,
  FlowLiveType,
} from "./flowEntry.js";
export {
  createFlowEntry,
  decodeCheckedEntries,
  FLOW_ENTRY_STATES,
  FLOW_LIVE_TYPES,
  FlowEntrySchema,
  flowEntryToJson,
  hasCounters,
  refreshCounters,
  withFlowEntry,
} from "./flowEntry.js";
export {
  applicationIdOf,
  bucketOf,
  flowIdOf,
  fnv1a64,
  hash48,
  identityKey,
} from "./flowId.js";
export type { FlowRule, FlowRuleSpec } from "./flowRule.js";
export {
  createFlowRule,
  FlowRuleSchema,
  MAX_PRIORITY,
  MIN_PRIORITY,
  sameFlowRule,
} from "./flowRule.js";
export type { FlowRuleErrorCode, FlowRuleIssue } from "./flowRuleError.js";
export { FlowRuleError } from "./flowRuleError.js";
export type { FlowRuleDefaults, FlowRuleJson } from "./flowRuleJson.js";
export {
  FlowRuleJsonSchema,
  flowRuleApplicationName,
  flowRuleToJson,
  parseFlowRule,
} from "./flowRuleJson.js";
export type { ApplicationId, DeviceId, FlowId } from "./ids.js";
export {
  ApplicationIdSchema,
  applicationId,
  DeviceIdSchema,
  deviceId,
  FlowIdSchema,
  flowId,
  MAX_APPLICATION_ID,
} from "./ids.js";
export type { Instruction, InstructionType } from "./instruction.js";
export { InstructionSchema, instructionToJson, STAT_TRIGGER_FLAGS } from "./instruction.js";
export type { LogicalTimestamp, Timestamped } from "./logicalClock.js";
export { LogicalClock, LogicalTimestampSchema, timestampedSchema } from "./logicalClock.js";
export type { Treatment } from "./treatment.js";
export { createTreatment, EMPTY_TREATMENT, TreatmentSchema } from "./treatment.js";
