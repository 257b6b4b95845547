import type { NodeId } from "@flowstore/cluster-messaging";
import type { DeviceId, FlowEntry, FlowRule } from "@flowstore/flow-bucket";
import type { FlowRuleBatch } from "./messages.js";

/**
 * What the store tells the rest of the controller (ONOS's store delegate).
 *
 * - `BATCH_REQUESTED` — on the device's master: apply `batch` to the device, then report with
 *   `batchOperationComplete`.
 * - `BATCH_COMPLETED` — on the node that called `storeBatch`: the device applied the batch
 *   (or it failed, with the failed rules).
 * - `RULE_ADDED` / `RULE_UPDATED` / `RULE_REMOVED` — on the master, a stored entry changed.
 */
export type FlowStoreEvent =
  | { readonly type: "BATCH_REQUESTED"; readonly batch: FlowRuleBatch; readonly origin: NodeId }
  | {
      readonly type: "BATCH_COMPLETED";
      readonly batchId: string;
      readonly deviceId: DeviceId;
      readonly success: boolean;
      readonly failed: readonly FlowRule[];
    }
  | { readonly type: "RULE_ADDED"; readonly entry: FlowEntry }
  | { readonly type: "RULE_UPDATED"; readonly entry: FlowEntry }
  | { readonly type: "RULE_REMOVED"; readonly entry: FlowEntry };

/** The rule events, which a forwarded change returns to its caller. */
export type RuleEvent = Extract<FlowStoreEvent, { entry: FlowEntry }>;
