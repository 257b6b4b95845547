import type { NodeId } from "@flowstore/cluster-messaging";
import type { LogicalTimestamp } from "@flowstore/flow-bucket";
import { FlowStoreError } from "../flowStoreError.js";

/**
 * What to do with a synchronous write when the device has fewer live backups than
 * `minSyncBackups`: acknowledge once every backup there is holds it, saying it is
 * under-replicated (`serve`, the default), or refuse it (`refuse`).
 */
export type UnderReplicated = "serve" | "refuse";

/** How a synchronous write was backed up when it was acknowledged. */
export interface BackedUp {
  /** Backups of the term holding the write when it was acknowledged. */
  readonly backedUpBy: number;
  /** Fewer than `minSyncBackups` hold it: too few backups were alive, or they did not answer in time. */
  readonly degraded: boolean;
}

/** One synchronous write waiting for its backups. */
interface Waiter {
  /** Per bucket written: the bucket's timestamp right after the write. */
  readonly stamps: ReadonlyMap<number, LogicalTimestamp>;
  readonly minimum: number;
  readonly mode: UnderReplicated;
  readonly resolve: (outcome: BackedUp) => void;
  readonly reject: (error: FlowStoreError) => void;
}

/** Whether backup `node` acknowledged bucket `index` at `timestamp` or later, in the current term. */
export type HoldsVersion = (node: NodeId, index: number, timestamp: LogicalTimestamp) => boolean;

/**
 * The synchronous writes of one device's current term that wait until enough backups
 * acknowledged them (`replication: "sync"`).
 *
 * @remarks A waiter does not send anything: the replicator already sends a written table's
 * change on the scheduler's next turn, and gathers every write made while a round is out
 * into the next message — that is the group commit. Waiters are settled whenever the
 * acknowledged versions or the term's backups change, and rejected when the term ends before
 * they were backed up (the write may or may not survive: the caller cannot be told it did).
 */
export class BackupWaiters {
  readonly #waiters = new Set<Waiter>();
  readonly #backups: () => readonly NodeId[];
  readonly #holds: () => HoldsVersion;

  /** `backups`: the current term's backups; `holds`: what each acknowledged. */
  constructor(backups: () => readonly NodeId[], holds: () => HoldsVersion) {
    this.#backups = backups;
    this.#holds = holds;
  }

  get size(): number {
    return this.#waiters.size;
  }

  /**
   * Waits until `minimum` of the term's backups hold every bucket of `stamps` at its stamp
   * or later. With fewer backups than `minimum`, `serve` waits for all of them and resolves
   * `degraded`; `refuse` rejects. Settled at once if that already holds; when `timeUp`
   * resolves first, whoever holds the write by then is what it gets (`serve`: `degraded`,
   * `refuse`: rejected).
   */
  wait(
    stamps: ReadonlyMap<number, LogicalTimestamp>,
    policy: { readonly minimum: number; readonly mode: UnderReplicated },
    timeUp: (expire: () => void) => void,
  ): Promise<BackedUp> {
    return new Promise<BackedUp>((resolve, reject) => {
      const waiter: Waiter = { stamps, ...policy, resolve, reject };
      if (this.#settle(waiter, this.#backups(), this.#holds(), false)) return;
      this.#waiters.add(waiter);
      timeUp(() => {
        if (!this.#waiters.delete(waiter)) return;
        this.#settle(waiter, this.#backups(), this.#holds(), true);
      });
    });
  }

  /** Settles every waiter that is backed up now (after an acknowledgement, a change of backups). */
  check(): void {
    const backups = this.#backups();
    const holds = this.#holds();
    for (const waiter of this.#waiters) {
      if (this.#settle(waiter, backups, holds, false)) this.#waiters.delete(waiter);
    }
  }

  /** Rejects every waiter: the term ended (or the table closed) before they were backed up. */
  rejectAll(error: FlowStoreError): void {
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const waiter of waiters) waiter.reject(error);
  }

  /** Settles `waiter` if it can be; whether it was. */
  #settle(
    waiter: Waiter,
    backups: readonly NodeId[],
    holds: HoldsVersion,
    expired: boolean,
  ): boolean {
    let holding = 0;
    for (const node of backups) {
      let all = true;
      for (const [index, timestamp] of waiter.stamps) {
        if (!holds(node, index, timestamp)) {
          all = false;
          break;
        }
      }
      if (all) holding++;
    }
    if (holding >= waiter.minimum) {
      waiter.resolve({ backedUpBy: holding, degraded: false });
      return true;
    }
    const tooFew = backups.length < waiter.minimum;
    if (!tooFew && !expired) return false;
    if (waiter.mode === "refuse") {
      waiter.reject(
        new FlowStoreError(
          "UNDER_REPLICATED",
          tooFew
            ? `only ${backups.length} backups are alive, minSyncBackups is ${waiter.minimum}: the write was applied on the master but is not acknowledged`
            : `only ${holding} of ${waiter.minimum} backups acknowledged the write in time: it was applied on the master but is not acknowledged`,
        ),
      );
      return true;
    }
    // serve: every live backup holds it (or the time is up): acknowledge, saying so.
    if (holding < backups.length && !expired) return false;
    waiter.resolve({ backedUpBy: holding, degraded: true });
    return true;
  }
}
