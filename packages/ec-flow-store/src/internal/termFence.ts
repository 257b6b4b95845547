import type { NodeId } from "@flowstore/cluster-messaging";
import type { DeviceId, Term } from "@flowstore/flow-bucket";
import type { ReplicaInfo } from "@flowstore/mastership";
import { FlowStoreError } from "../flowStoreError.js";

/** Why a backup was refused: the receiver knows a newer term, or has not learned this one. */
export type BackupRefusal = "STALE_TERM" | "UNKNOWN_TERM";

/** What a write may do now: run in `term`, wait for the term to activate, or be refused. */
export type WriteAdmission =
  | { readonly kind: "run"; readonly term: Term }
  | { readonly kind: "queue" }
  | { readonly kind: "refuse"; readonly error: FlowStoreError };

/**
 * One device's term knowledge on one node, and every accept / refuse decision made from it:
 * writes, backups received, synchronization requests and forwarded requests all ask here.
 *
 * @remarks Terms are fencing tokens. A node applies a write only as the master of the
 * current term, once that term is active, while no newer term has been heard of (and, via
 * `leaseFresh`, while its lease is provably its own); a backup is taken only in the
 * receiver's own current term; a synchronizing master of an older term is refused, and one of
 * a newer term fences this node; a request forwarded by a node that believes in a newer term
 * fences it too. Knowledge only grows: `knownTerm` and `activeTerm` never go back.
 */
export class TermFence {
  readonly deviceId: DeviceId;
  readonly localNode: NodeId;
  #info: ReplicaInfo | undefined;
  #activeTerm: Term = 0;
  /** The newest term this node has heard of, from lifecycle events or messages. */
  #knownTerm: Term = 0;
  #lastActivated: ReplicaInfo | undefined;
  #lastActivatedHere: Term = 0;

  constructor(deviceId: DeviceId, localNode: NodeId) {
    this.deviceId = deviceId;
    this.localNode = localNode;
  }

  /** The replica info of the current term, if any. */
  get info(): ReplicaInfo | undefined {
    return this.#info;
  }

  /** The newest term this node saw become active. */
  get activeTerm(): Term {
    return this.#activeTerm;
  }

  /** The newest term this node has heard of. */
  get knownTerm(): Term {
    return this.#knownTerm;
  }

  /** The newest term this node saw become active, with its master and backups. */
  get lastActivated(): ReplicaInfo | undefined {
    return this.#lastActivated;
  }

  /**
   * The newest term this node activated as its master (0 if none): the last term in which it
   * may have acknowledged writes nobody else holds yet.
   */
  get lastActivatedHere(): Term {
    return this.#lastActivatedHere;
  }

  /** Whether this node is the master of the current term (active or still synchronizing). */
  get isMaster(): boolean {
    const info = this.#info;
    return info?.master === this.localNode && this.#knownTerm <= info.term;
  }

  /** Whether this node is the master of an active term: the only state that takes writes. */
  get isActiveMaster(): boolean {
    return this.isMaster && this.#activeTerm === this.#info?.term;
  }

  // ---- what this node learns ------------------------------------------------------------

  /** A message or event spoke of `term`: a newer one fences this node's writes. */
  observe(term: Term): void {
    if (term > this.#knownTerm) this.#knownTerm = term;
  }

  /** A new term began. */
  start(info: ReplicaInfo): void {
    this.#info = info;
    this.observe(info.term);
  }

  /** The current term's backups changed. */
  update(info: ReplicaInfo): void {
    this.#info = info;
  }

  /** Term `info.term` became active (announced by its master, or activated here). */
  activated(info: ReplicaInfo): boolean {
    const current = this.#info;
    if (current !== undefined && info.term < current.term) return false;
    // The same term: keep the info as it is now (its backups may have changed since it began).
    const now = current !== undefined && current.term === info.term ? current : info;
    this.#info = now;
    this.observe(now.term);
    this.#activeTerm = Math.max(this.#activeTerm, now.term);
    if (now.master === this.localNode && now.term > this.#lastActivatedHere) {
      this.#lastActivatedHere = now.term;
    }
    if (this.#lastActivated === undefined || now.term > this.#lastActivated.term) {
      this.#lastActivated = now;
    }
    return true;
  }

  /** Term `info.term` ended: it has no master any more. */
  end(info: ReplicaInfo): void {
    if (this.#info?.term === info.term) this.#info = { ...info, master: undefined };
  }

  // ---- decisions ------------------------------------------------------------------------

  /**
   * Whether a write may run now: in the current term once it is active, queued while this
   * node (its master) synchronizes, refused on any other node (`NOT_MASTER`), once a newer
   * term was heard of (`STALE_TERM`), or while the lease is not provably fresh (`NOT_MASTER`).
   */
  admitWrite(leaseFresh: boolean): WriteAdmission {
    const info = this.#info;
    if (info === undefined || info.master !== this.localNode) {
      return {
        kind: "refuse",
        error: new FlowStoreError(
          "NOT_MASTER",
          `${this.localNode} is not the master of ${this.deviceId}`,
        ),
      };
    }
    if (this.#knownTerm > info.term) {
      return {
        kind: "refuse",
        error: new FlowStoreError(
          "STALE_TERM",
          `term ${info.term} of ${this.deviceId} was superseded by term ${this.#knownTerm}`,
        ),
      };
    }
    if (this.#activeTerm !== info.term) return { kind: "queue" };
    if (!leaseFresh) return { kind: "refuse", error: this.staleLease() };
    return { kind: "run", term: info.term };
  }

  /** The refusal of a write by a master whose lease is not provably fresh. */
  staleLease(): FlowStoreError {
    return new FlowStoreError(
      "NOT_MASTER",
      `${this.localNode} cannot prove its lease on ${this.deviceId} is fresh: another node may master it now`,
    );
  }

  /**
   * A backup stamped with `term`: taken only in this node's own current term — a node that
   * has not learned of the term yet (`UNKNOWN_TERM`), or a deposed master's late send
   * (`STALE_TERM`), must not overwrite anything. A newer term is noted.
   */
  admitBackup(term: Term): BackupRefusal | undefined {
    const current = this.#info?.term ?? 0;
    if (term === current) return undefined;
    this.observe(term);
    return term < current ? "STALE_TERM" : "UNKNOWN_TERM";
  }

  /**
   * A synchronization request from the master of `term`: an older master is refused with
   * `STALE_TERM`; a newer one fences this node (it stops writing) before it answers.
   */
  admitSync(term: Term): void {
    const current = this.#info?.term ?? 0;
    if (term < current) {
      throw new FlowStoreError(
        "STALE_TERM",
        `term ${term} of ${this.deviceId} is older than ${current}`,
      );
    }
    this.observe(term);
  }

  /**
   * A request sent to this node as the device's master by a node that believes `senderTerm`
   * is current, checked against the coordinator's `current` view: a sender with a newer term
   * fences this node (`STALE_TERM`), and a node that is not the master refuses (`NOT_MASTER`).
   */
  admitForwarded(senderTerm: Term, current: ReplicaInfo): void {
    if (senderTerm > current.term) {
      this.observe(senderTerm);
      throw new FlowStoreError(
        "STALE_TERM",
        `${this.localNode} has term ${current.term} of ${this.deviceId}, the sender ${senderTerm}`,
      );
    }
    if (current.master !== this.localNode) {
      throw new FlowStoreError(
        "NOT_MASTER",
        `${this.localNode} is not the master of ${this.deviceId}`,
      );
    }
  }

  /** A backup's verdict on what this node sent as master: a newer term it names fences it. */
  backupRefused(reason: BackupRefusal, term: Term): void {
    if (reason === "STALE_TERM") this.observe(term);
  }
}
