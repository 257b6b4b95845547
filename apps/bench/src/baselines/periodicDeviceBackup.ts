import type { NodeId } from "@flowstore/cluster-messaging";
import type { StoreMessaging } from "@flowstore/ec-flow-store";
import {
  createFlowEntry,
  type DeviceId,
  DeviceIdSchema,
  type FlowEntry,
  FlowEntrySchema,
  type FlowId,
  type FlowRule,
  FlowRuleSchema,
  flowBucketNamespace,
} from "@flowstore/flow-bucket";
import type { Mastership, ReplicaInfo } from "@flowstore/mastership";
import { createNamespace } from "@flowstore/serializers";
import type { Subscription } from "rxjs";
import { z } from "zod";

/**
 * The 2015 design's replication, kept here as a baseline: the master owns each device's
 * flow table; a change marks the device dirty; every backup period the master sends every
 * dirty device's whole table to the device's first standby, in one message per standby.
 *
 * @remarks No terms, no digests, no anti-entropy: a lost message is healed only by the next
 * change of the device, and a standby that is not the next master has nothing to give it.
 */
export class PeriodicDeviceBackup {
  readonly #tables = new Map<DeviceId, Map<FlowId, FlowEntry>>();
  readonly #dirty = new Set<DeviceId>();

  /** Stores (or replaces) an entry on its device's table and marks the device for backup. */
  put(entry: FlowEntry): void {
    this.#table(entry.rule.deviceId).set(entry.rule.id, entry);
    this.#dirty.add(entry.rule.deviceId);
  }

  /** The entry with flow id `id` on `device`. */
  get(device: DeviceId, id: FlowId): FlowEntry | undefined {
    return this.#tables.get(device)?.get(id);
  }

  /** How many entries `device`'s table holds here. */
  size(device: DeviceId): number {
    return this.#tables.get(device)?.size ?? 0;
  }

  /** Marks `device` for the next backup round (its backup node changed). */
  markDirty(device: DeviceId): void {
    this.#dirty.add(device);
  }

  /** Replaces `device`'s whole table with a standby copy received from its master. */
  replace(device: DeviceId, entries: readonly FlowEntry[]): void {
    this.#tables.set(device, new Map(entries.map((e) => [e.rule.id, e])));
  }

  /**
   * One backup round: every dirty device that `include` keeps (default: all), with its whole
   * table; their dirty marks are cleared (a failed send marks them again).
   */
  takeBackup(include: (device: DeviceId) => boolean = () => true): {
    devices: { deviceId: DeviceId; entries: FlowEntry[] }[];
  } {
    const devices: { deviceId: DeviceId; entries: FlowEntry[] }[] = [];
    for (const deviceId of this.#dirty) {
      if (!include(deviceId)) continue;
      this.#dirty.delete(deviceId);
      devices.push({ deviceId, entries: [...(this.#tables.get(deviceId)?.values() ?? [])] });
    }
    return { devices };
  }

  #table(device: DeviceId): Map<FlowId, FlowEntry> {
    let table = this.#tables.get(device);
    if (table === undefined) {
      table = new Map();
      this.#tables.set(device, table);
    }
    return table;
  }
}

/** The baseline's messages, on the project's serializers so byte counts compare. */
export const periodicBackupNamespace = createNamespace("baseline-2015")
  .include(flowBucketNamespace)
  .register(
    400,
    "TableBackup",
    z.object({
      devices: z.array(z.object({ deviceId: DeviceIdSchema, entries: z.array(FlowEntrySchema) })),
    }),
  )
  .register(401, "BackedUpDevices", z.array(DeviceIdSchema))
  .register(
    402,
    "ForwardedBatch",
    z.object({ deviceId: DeviceIdSchema, adds: z.array(FlowRuleSchema) }),
  )
  .register(403, "BatchTaken", z.boolean())
  .build();

const BACKUP = "baseline-2015.backup";
const BATCH = "baseline-2015.batch";

/** Options of {@link PeriodicBackupStore}. */
export interface PeriodicBackupStoreOptions {
  readonly messaging: StoreMessaging;
  readonly mastership: Mastership<DeviceId>;
  /** The design's backupPeriod (its default was 2,000 ms). */
  readonly backupPeriod: number;
  readonly requestTimeout?: number;
}

/**
 * A running node of the 2015 design, on the same messaging and mastership as flowstore so
 * the two compare under the same failures:
 * - writes go to the device's master (forwarded from other nodes) and are stored there;
 * - every `backupPeriod`, the master sends each device it masters that changed since its
 *   last backup, or whose first standby changed, to that first standby, whole;
 * - a standby replaces its copy of a device it does not master with what it receives;
 * - a node that becomes master serves at once from whatever copy it holds — no sync.
 */
export class PeriodicBackupStore {
  readonly #options: PeriodicBackupStoreOptions;
  readonly #core = new PeriodicDeviceBackup();
  readonly #lastBackupNode = new Map<DeviceId, NodeId>();
  readonly #timer: NodeJS.Timeout;
  readonly #stops: Subscription[] = [];
  readonly #events: Subscription;
  #sending = false;
  #closed = false;

  constructor(options: PeriodicBackupStoreOptions) {
    this.#options = options;
    const { messaging } = options;
    const backup = periodicBackupNamespace.serializer("TableBackup");
    const backedUp = periodicBackupNamespace.serializer("BackedUpDevices");
    const forwarded = periodicBackupNamespace.serializer("ForwardedBatch");
    const taken = periodicBackupNamespace.serializer("BatchTaken");
    this.#stops.push(
      messaging.serve(BACKUP, (payload) => {
        const accepted: DeviceId[] = [];
        for (const { deviceId, entries } of backup.decode(payload).devices) {
          if (this.#isMaster(deviceId)) continue; // never overwrite a table it owns
          this.#core.replace(deviceId, entries);
          accepted.push(deviceId);
        }
        return backedUp.encode(accepted);
      }),
      messaging.serve(BATCH, (payload) => {
        const batch = forwarded.decode(payload);
        if (!this.#isMaster(batch.deviceId)) return taken.encode(false);
        this.#apply(batch.adds);
        return taken.encode(true);
      }),
    );
    // A new first standby gets the device's table at the next round.
    this.#events = options.mastership.events$.subscribe((event) => {
      if (event.type === "BACKUPS_CHANGED" && this.#isMaster(event.key))
        this.#core.markDirty(event.key);
    });
    this.#timer = setInterval(() => void this.backupRound(), options.backupPeriod);
    this.#timer.unref();
  }

  /** Whether this node is `device`'s master: in this design, the same as serving it. */
  isActiveMaster(device: DeviceId): boolean {
    return this.#isMaster(device);
  }

  /** How many entries this node holds for `device` (its own table, or its standby copy). */
  size(device: DeviceId): number {
    return this.#core.size(device);
  }

  /** Whether this node holds `rule` for its device. */
  has(rule: FlowRule): boolean {
    return this.#core.get(rule.deviceId, rule.id) !== undefined;
  }

  /** Adds `rules` to `device` on its master; resolves once the master stored them. */
  async storeBatch(device: DeviceId, rules: readonly FlowRule[]): Promise<void> {
    if (this.#closed) throw new Error("store closed");
    const master = this.#options.mastership.mastership(device).master;
    if (master === undefined) throw new Error(`no master for ${device}`);
    if (master === this.#options.messaging.localNode) {
      this.#apply(rules);
      return;
    }
    const reply = await this.#options.messaging.request(
      master,
      BATCH,
      periodicBackupNamespace
        .serializer("ForwardedBatch")
        .encode({ deviceId: device, adds: [...rules] }),
      this.#options.requestTimeout ?? 5000,
    );
    if (!periodicBackupNamespace.serializer("BatchTaken").decode(reply))
      throw new Error(`${master} is no longer the master of ${device}`);
  }

  /** One backup round (also run every backupPeriod): dirty mastered devices to their first standby. */
  async backupRound(): Promise<void> {
    if (this.#sending || this.#closed) return;
    this.#sending = true;
    try {
      const { mastership, messaging } = this.#options;
      // A device whose first standby moved since its last backup goes again, whole.
      for (const device of mastership.mastersOf(messaging.localNode)) {
        const standby = firstStandby(mastership.mastership(device));
        if (standby !== undefined && this.#lastBackupNode.get(device) !== standby)
          this.#core.markDirty(device);
      }
      const { devices } = this.#core.takeBackup((d) => this.#isMaster(d));
      const byStandby = new Map<NodeId, typeof devices>();
      for (const device of devices) {
        const standby = firstStandby(mastership.mastership(device.deviceId));
        if (standby === undefined) continue; // no standby: nothing to back up to
        const list = byStandby.get(standby);
        if (list === undefined) byStandby.set(standby, [device]);
        else list.push(device);
      }
      const backup = periodicBackupNamespace.serializer("TableBackup");
      const backedUp = periodicBackupNamespace.serializer("BackedUpDevices");
      await Promise.all(
        [...byStandby].map(async ([standby, list]) => {
          try {
            const reply = await messaging.request(
              standby,
              BACKUP,
              backup.encode({ devices: list }),
              this.#options.requestTimeout ?? 5000,
            );
            const accepted = new Set(backedUp.decode(reply));
            for (const { deviceId } of list) {
              if (accepted.has(deviceId)) this.#lastBackupNode.set(deviceId, standby);
              else this.#core.markDirty(deviceId);
            }
          } catch {
            for (const { deviceId } of list) this.#core.markDirty(deviceId);
          }
        }),
      );
    } finally {
      this.#sending = false;
    }
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#events.unsubscribe();
    for (const stop of this.#stops) stop.unsubscribe();
  }

  #apply(rules: readonly FlowRule[]): void {
    for (const rule of rules) this.#core.put(createFlowEntry(rule, { created: Date.now() }));
  }

  #isMaster(device: DeviceId): boolean {
    return this.#options.mastership.mastership(device).master === this.#options.messaging.localNode;
  }
}

function firstStandby(info: ReplicaInfo): NodeId | undefined {
  return info.backups[0];
}
