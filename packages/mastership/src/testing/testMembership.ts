import { type Observable, Subject } from "rxjs";
import type {
  ClusterMembership,
  ControllerNode,
  MembershipEvent,
  NodeId,
  NodeState,
} from "../cluster.js";

/**
 * A membership whose liveness a test sets by hand: `setState(node, "INACTIVE")` is what a
 * failure detector convicting `node` would report.
 */
export class TestMembership implements ClusterMembership {
  readonly localNode: ControllerNode;
  readonly #nodes: readonly ControllerNode[];
  readonly #states = new Map<NodeId, NodeState>();
  readonly #events = new Subject<MembershipEvent>();
  readonly events$: Observable<MembershipEvent> = this.#events.asObservable();

  constructor(local: NodeId, nodes: readonly NodeId[]) {
    this.#nodes = nodes.map((id, i) => ({ id, host: "127.0.0.1", port: 9000 + i }));
    const self = this.#nodes.find((node) => node.id === local);
    if (self === undefined) throw new Error(`${local} is not among ${nodes.join(", ")}`);
    this.localNode = self;
    for (const node of nodes) this.#states.set(node, "ACTIVE");
  }

  nodes(): readonly ControllerNode[] {
    return this.#nodes;
  }

  state(node: NodeId): NodeState {
    return this.#states.get(node) ?? "INACTIVE";
  }

  /** Changes `node`'s state, emitting the transition (nothing if it is already in it). */
  setState(node: NodeId, state: NodeState): void {
    if (this.state(node) === state) return;
    this.#states.set(node, state);
    this.#events.next({ type: state === "ACTIVE" ? "NODE_ACTIVE" : "NODE_INACTIVE", node });
  }

  close(): void {
    this.#events.complete();
  }
}
