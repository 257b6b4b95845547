import { type Observable, Subject } from "rxjs";
import type { NodeId } from "../../cluster.js";
import {
  type Mastership,
  MastershipError,
  type MastershipEvent,
  type MastershipRole,
  type ReplicaInfo,
  type TermActivation,
} from "../../mastership.js";
import { activeTermStreams, infoStreams } from "../keyedStreams.js";
import { changeType, roleOf, truncateBackups } from "../replicaInfo.js";

/** What a view needs from its coordinator. */
export interface Coordinator<K extends string> {
  info(key: K): ReplicaInfo;
  keys(): readonly K[];
  mastersOf(node: NodeId): readonly K[];
  request(node: NodeId, key: K): ReplicaInfo;
  relinquish(node: NodeId, key: K): void;
  balance(): void;
  activate(node: NodeId, key: K, term: number): boolean;
  activeTerm(key: K): number | undefined;
  /** Whether membership reports `node` inactive (it has lost its masterships). */
  isInactive(node: NodeId): boolean;
  leave(node: NodeId): void;
}

/**
 * One node's {@link Mastership} view of the embedded coordinator: it forwards commands to
 * the coordinator and shows changes trimmed to its `backupCount`.
 */
export class EmbeddedView<K extends string> implements Mastership<K> {
  readonly #events = new Subject<MastershipEvent<K>>();
  /** `info$` of every key, from one subscription to `events$`. */
  readonly #infos$ = infoStreams<K>(this);
  /** `activeTerm$` of every key, from one subscription to `activations$`. */
  readonly #activeTerms$ = activeTermStreams<K>(this);
  readonly #activations = new Subject<TermActivation<K>>();
  readonly events$: Observable<MastershipEvent<K>> = this.#events.asObservable();
  readonly activations$: Observable<TermActivation<K>> = this.#activations.asObservable();
  #closed = false;

  constructor(
    readonly localNode: NodeId,
    readonly backupCount: number,
    private readonly coordinator: Coordinator<K>,
  ) {}

  notify(key: K, before: ReplicaInfo, after: ReplicaInfo): void {
    const shown = truncateBackups(after, this.backupCount);
    const type = changeType(truncateBackups(before, this.backupCount), shown);
    if (type !== undefined) this.#events.next({ type, key, info: shown });
  }

  activated(activation: TermActivation<K>): void {
    this.#activations.next(activation);
  }

  mastership(key: K): ReplicaInfo {
    return truncateBackups(this.coordinator.info(key), this.backupCount);
  }

  role(key: K): MastershipRole {
    return roleOf(this.coordinator.info(key), this.localNode);
  }

  keys(): readonly K[] {
    return this.coordinator.keys();
  }

  mastersOf(node: NodeId): readonly K[] {
    return this.coordinator.mastersOf(node);
  }

  info$(key: K): Observable<ReplicaInfo> {
    return this.#infos$(key);
  }

  activeTerm$(key: K): Observable<number> {
    return this.#activeTerms$(key);
  }

  async requestRoleFor(key: K): Promise<ReplicaInfo> {
    this.#assertOpen();
    this.coordinator.request(this.localNode, key);
    return this.mastership(key);
  }

  async relinquish(key: K): Promise<void> {
    this.#assertOpen();
    this.coordinator.relinquish(this.localNode, key);
  }

  async balance(): Promise<void> {
    this.#assertOpen();
    this.coordinator.balance();
  }

  async activate(key: K, term: number): Promise<boolean> {
    this.#assertOpen();
    return this.coordinator.activate(this.localNode, key, term);
  }

  activeTerm(key: K): number | undefined {
    return this.coordinator.activeTerm(key);
  }

  leaseFreshUntil(): number {
    // The coordinator takes masterships away synchronously, in this process: while the view
    // is open and its node counts as alive, nothing can have been handed over behind its back.
    return this.#closed || this.coordinator.isInactive(this.localNode)
      ? Number.NEGATIVE_INFINITY
      : Number.POSITIVE_INFINITY;
  }

  async close(): Promise<void> {
    this.closeNow();
  }

  closeNow(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.coordinator.leave(this.localNode);
    this.#events.complete();
    this.#activations.complete();
  }

  #assertOpen(): void {
    if (this.#closed)
      throw new MastershipError("CLOSED", `the mastership view of ${this.localNode} is closed`);
  }
}
