// The cluster-messaging types this package builds on, imported in one place.
export type {
  ClusterMembership,
  ControllerNode,
  MembershipEvent,
  NodeId,
  NodeState,
} from "@flowstore/cluster-messaging";
export { nodeId } from "@flowstore/cluster-messaging";
