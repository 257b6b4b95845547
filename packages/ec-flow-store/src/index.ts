export type { StoreConfig, StoreConfigInput } from "./config.js";
export { parseStoreConfig, StoreConfigSchema, StoreSettings } from "./config.js";
export type { FlowStatsOutcome, FlowStatsReport } from "./deviceReports.js";
export type {
  BatchReceipt,
  FlowRuleBatchInput,
  FlowRuleCountFilter,
  FlowRuleStoreOptions,
} from "./ecFlowRuleStore.js";
export { createFlowRuleStore, EcFlowRuleStore } from "./ecFlowRuleStore.js";
export type { FlowStoreErrorCode } from "./flowStoreError.js";
export { FlowStoreError } from "./flowStoreError.js";
export type { FlowStoreEvent, RuleEvent } from "./flowStoreEvent.js";
export type { ReplicationStats } from "./internal/replicator.js";
export type { Logger } from "./logger.js";
export { silentLogger } from "./logger.js";
export type {
  BatchCompletion,
  FlowRuleBatch,
  FlowRuleOperation,
  TableStatistics,
} from "./messages.js";
export { FlowRuleBatchSchema, FlowRuleOperationSchema, storeNamespace } from "./messages.js";
export type {
  FlowTablePersistence,
  PersistedBucketChange,
  PersistedDevice,
  StorePersistenceOptions,
} from "./persistence.js";
export type { StoreMessaging } from "./storeMessaging.js";
export { fromClusterMessaging } from "./storeMessaging.js";
export type { FlowBucketView, FlowTableView } from "./tableView.js";
