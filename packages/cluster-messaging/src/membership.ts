import type { Observable } from "rxjs";
import type { ControllerNode, NodeId } from "./node.js";

/** Whether the failure detector currently believes a node is alive. */
export type NodeState = "ACTIVE" | "INACTIVE";

/** A change in the membership view. */
export type MembershipEvent =
  | { readonly type: "NODE_ACTIVE"; readonly node: NodeId }
  | { readonly type: "NODE_INACTIVE"; readonly node: NodeId };

/**
 * Who is in the cluster and who is alive, as seen from the local node.
 *
 * @remarks Downstream packages (mastership, the store) depend on this interface only, so
 * they run the same over the TCP transport, the in-memory transport or a test's own subject.
 */
export interface ClusterMembership {
  /** The local node. */
  readonly localNode: ControllerNode;
  /** Every configured node, the local one included. */
  nodes(): readonly ControllerNode[];
  /** The current state of `node` (the local node is always ACTIVE). */
  state(node: NodeId): NodeState;
  /** Transitions only (ACTIVE → INACTIVE, INACTIVE → ACTIVE), never repeats. */
  readonly events$: Observable<MembershipEvent>;
}
