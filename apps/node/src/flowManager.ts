import type { EcFlowRuleStore, FlowStoreEvent } from "@flowstore/ec-flow-store";
import type { DeviceId, FlowRule } from "@flowstore/flow-bucket";
import { interval, type SchedulerLike, type Subscription } from "rxjs";
import type { DeviceFleet } from "./deviceSimulator.js";
import type { JsonLogger } from "./logger.js";

/** Options of {@link FlowManager}. */
export interface FlowManagerOptions {
  readonly store: EcFlowRuleStore;
  readonly fleet: DeviceFleet;
  readonly log: JsonLogger;
  /** How often devices report counters (and mastered devices are reconciled), in ms. */
  readonly statsPeriod: number;
  readonly scheduler: SchedulerLike;
}

/**
 * A minimal flow rule manager for one node: it programs the devices this node masters
 * when the store asks (`BATCH_REQUESTED`), completes the batches, and relays each device's
 * periodic counter reports to the store in one call per device (`PENDING_ADD` → `ADDED`;
 * counters themselves are soft state). On every report it also reconciles: a stored flow the
 * device lacks (after a failover, say) is installed again, a flow the device holds that the
 * store does not (or holds as being removed) is taken off the device, and entries being
 * removed leave the store.
 */
export class FlowManager {
  readonly #options: FlowManagerOptions;
  readonly #subscription: Subscription;
  #polling = false;
  #closed = false;
  /** Flows installed this turn, per device: the partial report at the turn's end. */
  readonly #reports = new Map<DeviceId, FlowRule[]>();

  constructor(options: FlowManagerOptions) {
    this.#options = options;
    this.#subscription = options.store.events$.subscribe((event) => this.#onEvent(event));
    this.#subscription.add(
      interval(options.statsPeriod, options.scheduler).subscribe(() => void this.poll()),
    );
  }

  #onEvent(event: FlowStoreEvent): void {
    if (event.type !== "BATCH_REQUESTED") return;
    const { store, fleet, log } = this.#options;
    const device = fleet.get(event.batch.deviceId);
    const now = this.#options.scheduler.now();
    const failed: FlowRule[] = [];
    for (const op of event.batch.operations) {
      if (device === undefined || !device.available) {
        failed.push(op.rule);
        continue;
      }
      if (op.operator === "REMOVE") device.remove(op.rule);
      else device.install(op.rule, now);
    }
    store
      .batchOperationComplete({
        batchId: event.batch.id,
        deviceId: event.batch.deviceId,
        success: failed.length === 0,
        failed,
      })
      .catch((error: unknown) =>
        log.warn("could not complete a batch", { batch: event.batch.id, error: String(error) }),
      );
    // The switch acknowledged the new flows: report them at once (a partial report), so they
    // are ADDED now rather than at the next stats period.
    if (device !== undefined && failed.length === 0) {
      for (const op of event.batch.operations) {
        if (op.operator !== "REMOVE") this.#installed(event.batch.deviceId, op.rule);
      }
    }
    // Removed from the device: now remove them from the store as well.
    for (const op of event.batch.operations) {
      if (op.operator !== "REMOVE" || failed.includes(op.rule)) continue;
      void this.#removeStored(op.rule);
    }
  }

  /**
   * Notes `rule` as installed on `device`. The batches of one turn of the event loop (a master
   * applies every batch forwarded in one message together) make one partial report per device,
   * sent once the turn's work is done.
   */
  #installed(device: DeviceId, rule: FlowRule): void {
    const rules = this.#reports.get(device);
    if (rules !== undefined) {
      rules.push(rule);
      return;
    }
    this.#reports.set(device, [rule]);
    if (this.#reports.size === 1) setImmediate(() => this.#report());
  }

  #report(): void {
    if (this.#closed) return;
    const { store, log } = this.#options;
    const reports = [...this.#reports];
    this.#reports.clear();
    for (const [device, rules] of reports) {
      store
        .updateFlowStatistics(
          device,
          rules.map((rule) => ({ rule, packets: 0, bytes: 0, life: 0 })),
          { complete: false },
        )
        .catch((error: unknown) =>
          log.debug("could not report installed flows", { device, error: String(error) }),
        );
    }
  }

  async #removeStored(rule: FlowRule): Promise<void> {
    const { store, log } = this.#options;
    try {
      const stored = await store.getFlowEntry(rule);
      if (stored !== undefined) await store.removeFlowRule(stored);
    } catch (error) {
      log.debug("could not remove a flow from the store", { flow: rule.id, error: String(error) });
    }
  }

  /** One round of counter reports and reconciliation for every device this node masters. */
  async poll(): Promise<void> {
    if (this.#polling) return;
    this.#polling = true;
    try {
      for (const id of this.#options.fleet.ids()) {
        if (this.#options.store.isActiveMaster(id)) await this.#pollDevice(id);
      }
    } finally {
      this.#polling = false;
    }
  }

  /**
   * One device report: the store records the counters (soft state) and the transitions they
   * imply in one call; then the device is reconciled as ONOS does — flows it holds that the
   * store does not are extraneous and are removed from it (never adopted into the store), and
   * stored flows it lacks are installed again.
   */
  async #pollDevice(id: DeviceId): Promise<void> {
    const { store, fleet, log } = this.#options;
    const device = fleet.get(id);
    if (device === undefined || !device.available) return;
    const now = this.#options.scheduler.now();
    try {
      const outcome = await store.updateFlowStatistics(id, await device.report(now));
      for (const rule of outcome.extraneous) device.remove(rule);
      for (const entry of outcome.missing) device.install(entry.rule, now);
      if (outcome.extraneous.length > 0 || outcome.missing.length > 0) {
        log.debug("device reconciled", {
          device: id,
          extraneous: outcome.extraneous.length,
          missing: outcome.missing.length,
        });
      }
    } catch (error) {
      log.debug("device poll failed", { device: id, error: String(error) });
    }
  }

  close(): void {
    this.#closed = true;
    this.#reports.clear();
    this.#subscription.unsubscribe();
  }
}
