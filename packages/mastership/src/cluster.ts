// The cluster-messaging types this package builds on, in one place.
// TEMPORARY mirror of packages/cluster-messaging/src/{node,membership}.ts until that package
// is published in the workspace; replaced by a re-export from @flowstore/cluster-messaging.
import type { Observable } from "rxjs";

export type NodeId = string & { readonly __brand: "NodeId" };

export function nodeId(id: string): NodeId {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(id))
    throw new TypeError(`invalid node id ${JSON.stringify(id)}`);
  return id as NodeId;
}

export interface ControllerNode {
  readonly id: NodeId;
  readonly host: string;
  readonly port: number;
}

export type NodeState = "ACTIVE" | "INACTIVE";

export type MembershipEvent =
  | { readonly type: "NODE_ACTIVE"; readonly node: NodeId }
  | { readonly type: "NODE_INACTIVE"; readonly node: NodeId };

export interface ClusterMembership {
  readonly localNode: ControllerNode;
  nodes(): readonly ControllerNode[];
  state(node: NodeId): NodeState;
  readonly events$: Observable<MembershipEvent>;
}
