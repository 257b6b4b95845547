import type { ClusterMembership, NodeId } from "@flowstore/cluster-messaging";
import type { DeviceId, Term } from "@flowstore/flow-bucket";
import type { Mastership } from "@flowstore/mastership";
import type { SchedulerLike, Subscription } from "rxjs";
import type { StoreConfig } from "../config.js";
import type { Logger } from "../logger.js";
import type { PersistedDevice } from "../persistence.js";
import { type MessageOf, type StoreChannel, SUBJECTS } from "../storeMessaging.js";
import { DeviceFlowTable } from "./deviceFlowTable.js";
import { deviceLifecycle$ } from "./lifecycle.js";
import { decodeLoadedBuckets } from "./loadedBuckets.js";
import type { Persister } from "./persister.js";

/** The pause between two buckets that {@link DeviceTables.decodeLoaded} decodes, in ms. */
const BACKGROUND_DECODE_PAUSE = 20;
/** How often {@link DeviceTables.decodeLoaded} looks whether the cluster serves again, in ms. */
const SERVING_POLL = 250;
/** How long {@link DeviceTables.decodeLoaded} waits for that at most, in ms. */
const SERVING_WAIT_LIMIT = 60_000;

/** What {@link DeviceTables} creates each device's table with. */
export interface DeviceTablesOptions {
  readonly localNode: NodeId;
  readonly mastership: Mastership<DeviceId>;
  /** The cluster's nodes (copies are dropped only when more than 1 + backupCount) and which are alive. */
  readonly membership: ClusterMembership;
  readonly channel: StoreChannel;
  readonly scheduler: SchedulerLike;
  readonly log: Logger;
  readonly config: () => StoreConfig;
  readonly wait: (ms: number) => Promise<void>;
  /** A table was written: its backups are owed the change. */
  readonly onWrite: (table: DeviceFlowTable) => void;
  /** This node activated a term of `table`'s device as its master. */
  readonly onActive?: (table: DeviceFlowTable) => void;
  /** With `persistence`: what keeps the tables on disk. */
  readonly persister: () => Persister | undefined;
  /** What was on disk at start. */
  readonly loaded: Iterable<PersistedDevice>;
  /** Owns every table's lifecycle subscription (the store's). */
  readonly subscription: Subscription;
}

/**
 * One node's table per device, each created on first need with what it needs from the
 * store: its clock and timers, mastership, the cluster's size and liveness, the replicator
 * and the disk to tell of changes, and the sync calls to other replicas.
 */
export class DeviceTables {
  readonly #options: DeviceTablesOptions;
  readonly #tables = new Map<DeviceId, DeviceFlowTable>();
  /** What was on disk at start, per device, until its table is created. */
  readonly #loaded = new Map<DeviceId, PersistedDevice>();
  /** The highest term on disk of each device loaded at start. */
  readonly #loadedTerms = new Map<DeviceId, Term>();

  constructor(options: DeviceTablesOptions) {
    this.#options = options;
    for (const device of options.loaded) {
      this.#loaded.set(device.deviceId, device);
      this.#loadedTerms.set(device.deviceId, device.highestTerm);
    }
  }

  /**
   * Decodes the buckets loaded from disk that are still encoded (the copies this node backs
   * up; a master decodes its own before it serves), in the background: once every device
   * loaded has a term active above the highest on disk (the cluster serves again, or after
   * a minute), one bucket every few ms, so that a failover or a backup's first write later
   * finds them decoded. Stops when none is left or `closed()` says so.
   */
  async decodeLoaded(closed: () => boolean): Promise<void> {
    const { mastership, wait, log } = this.#options;
    const devices = [...this.#loadedTerms];
    const serving = () =>
      devices.every(([device, term]) => (mastership.activeTerm(device) ?? 0) > term);
    for (let waited = 0; !serving() && waited < SERVING_WAIT_LIMIT; waited += SERVING_POLL) {
      await wait(SERVING_POLL);
      if (closed()) return;
    }
    const started = this.#options.scheduler.now();
    let decoded = 0;
    for (const [device] of devices) {
      const done = await decodeLoadedBuckets(
        device,
        this.#tables.get(device)?.table.buckets() ?? [],
        {
          pause: () => wait(BACKGROUND_DECODE_PAUSE),
          going: () => !closed(),
          log,
        },
      );
      if (done === undefined) return;
      decoded += done;
    }
    if (decoded > 0) {
      log.info("decoded the backup copies loaded from disk", {
        buckets: decoded,
        ms: Math.round(this.#options.scheduler.now() - started),
      });
    }
  }

  /** This node's table of `device`, if it has one. */
  get(device: DeviceId): DeviceFlowTable | undefined {
    return this.#tables.get(device);
  }

  keys(): IterableIterator<DeviceId> {
    return this.#tables.keys();
  }

  values(): IterableIterator<DeviceFlowTable> {
    return this.#tables.values();
  }

  /** The devices found on disk whose tables are not created yet. */
  loadedDevices(): DeviceId[] {
    return [...this.#loaded.keys()];
  }

  /** The table of `device`, created (and its lifecycle started) if this node has none yet. */
  table(device: DeviceId): DeviceFlowTable {
    let table = this.#tables.get(device);
    if (table !== undefined) return table;
    const { mastership, membership, scheduler } = this.#options;
    const config = this.#options.config();
    const persister = this.#options.persister();
    table = new DeviceFlowTable({
      deviceId: device,
      localNode: this.#options.localNode,
      bucketCount: config.bucketCount,
      log: this.#options.log,
      wait: (ms) => this.#options.wait(ms),
      retryDelay: Math.min(1000, config.requestTimeout),
      syncTimeout: config.syncTimeout,
      ...(persister === undefined
        ? {}
        : {
            restartSyncTimeout: config.restartSyncTimeout,
            peers: () => membership.nodes().map((node) => node.id),
          }),
      now: () => scheduler.now(),
      activeTerm: () => mastership.activeTerm(device),
      leaseFresh: () => scheduler.now() < mastership.leaseFreshUntil(),
      activate: (term) => mastership.activate(device, term),
      shouldDropCopies: () => membership.nodes().length > 1 + this.#options.config().backupCount,
      tracksBuckets: persister !== undefined,
      isNodeAlive: (node) => membership.state(node) === "ACTIVE",
      sync: {
        digests: async (node, deviceId, term) => {
          const reply = await this.#syncCall(table!, node, SUBJECTS.syncDigests, {
            deviceId,
            term,
          });
          const activated = reply.activated;
          return {
            digests: reply.digests,
            activated:
              activated === null
                ? null
                : { term: activated.term, master: activated.master, backups: activated.backups },
          };
        },
        buckets: async (node, deviceId, term, buckets) =>
          (
            await this.#syncCall(table!, node, SUBJECTS.syncBuckets, {
              deviceId,
              term,
              buckets: [...buckets],
            })
          ).buckets,
      },
    });
    this.#tables.set(device, table);
    const owned = table;
    // What the table changes goes to replication (writes) and to disk (every bucket).
    this.#options.subscription.add(owned.written$.subscribe(() => this.#options.onWrite(owned)));
    this.#options.subscription.add(
      owned.activated$.subscribe(() => this.#options.onActive?.(owned)),
    );
    if (persister !== undefined) {
      this.#options.subscription.add(
        owned.bucketChanged$.subscribe((bucket) =>
          this.#options.persister()?.changed(owned, bucket),
        ),
      );
    }
    const loaded = this.#loaded.get(device);
    if (loaded !== undefined) {
      // Before the lifecycle starts: the first sync already weighs this copy.
      this.#loaded.delete(device);
      for (const snapshot of loaded.buckets) table.table.merge(snapshot);
      table.observeTerm(loaded.highestTerm);
    }
    this.#options.subscription.add(
      deviceLifecycle$(mastership, device).subscribe((event) => owned.onLifecycle(event)),
    );
    return table;
  }

  /** A sync request stamped with the device's clock; the replica's clock in the reply moves it on. */
  async #syncCall<E extends typeof SUBJECTS.syncDigests | typeof SUBJECTS.syncBuckets>(
    table: DeviceFlowTable,
    node: NodeId,
    exchange: E,
    request: Omit<MessageOf<E["request"]>, "clock">,
  ): Promise<MessageOf<E["reply"]>> {
    const stamped = { ...request, clock: table.table.clock.current } as MessageOf<E["request"]>;
    const reply = await this.#options.channel.call(
      node,
      exchange,
      stamped,
      this.#options.config().requestTimeout,
    );
    table.table.clock.observe(reply.clock);
    return reply;
  }
}
