import type { NodeId } from "@flowstore/cluster-messaging";
import type { DeviceId, Term } from "@flowstore/flow-bucket";
import {
  distinctUntilChanged,
  interval,
  map,
  merge,
  type Observable,
  type SchedulerLike,
  type Subscription,
  switchMap,
} from "rxjs";
import type { StoreConfig } from "../config.js";
import type { Logger } from "../logger.js";
import { type MessageOf, type StoreChannel, SUBJECTS } from "../storeMessaging.js";
import type { BackupPayload } from "./backupLedger.js";
import type { DeviceFlowTable } from "./deviceFlowTable.js";
import { endOfTurn } from "./endOfTurn.js";

/** Counters of what replication sent and received, for metrics and benchmarks. */
export interface ReplicationStats {
  backupMessages: number;
  backupBuckets: number;
  backupFailures: number;
  summaryMessages: number;
}

/** What the replicator needs from its node. */
export interface ReplicatorOptions {
  readonly channel: StoreChannel;
  readonly tables: () => Iterable<DeviceFlowTable>;
  readonly table: (device: DeviceId) => DeviceFlowTable;
  readonly config$: Observable<StoreConfig>;
  readonly config: () => StoreConfig;
  readonly scheduler: SchedulerLike;
  readonly log: Logger;
  /** At most this many flow entries in one backup message; more go in further messages. */
  readonly maxEntriesPerMessage?: number;
}

interface Outgoing {
  readonly table: DeviceFlowTable;
  readonly term: Term;
  readonly payloads: BackupPayload[];
}

/**
 * The node's one replication scheduler: backups after writes and a sweep every
 * `backupPeriod`, an anti-entropy round every `antiEntropyPeriod`, across all devices, one
 * message per peer per round (many buckets of many devices), and the handlers that answer
 * them on backups.
 *
 * @remarks No timer per device. A period changed at run time applies from the next tick.
 * One backup message per backup node is in flight at a time: a round bigger than
 * `maxEntriesPerMessage` goes out as a queue of messages, each sent when the one before it
 * is acknowledged, so a big backlog (a node that just started, a table loaded at once)
 * never has more on the wire than a receiver can take within `requestTimeout`. A failed
 * message drops the rest of its round; the next round takes what is still owed.
 * Writes do not wait for the period: a written table's backups get the change on the
 * scheduler's next turn, or, while a round is out to them, at the end of the turn its
 * acknowledgement arrives in — so a backup lags its master by a round trip, not a period,
 * and under load the one message in flight gathers every write made meanwhile (as deltas:
 * the buckets it sent were just acknowledged), and what that turn still does to them. The
 * periodic round retries what failed and sweeps up anything else owed.
 */
/**
 * The most entries in one backup message by default (a bucket bigger than that goes alone).
 * Encoding and decoding a message holds each node's event loop for its whole length — about
 * 2 µs an entry each way — so a message of 20,000 entries stalled every request behind it for
 * some 40 ms on each side; at 4,096 a stall is under 10 ms, and one message a round trip still
 * carries far more than a node ingests.
 */
export const BACKUP_MESSAGE_ENTRIES = 4096;

export class Replicator {
  readonly stats: ReplicationStats = {
    backupMessages: 0,
    backupBuckets: 0,
    backupFailures: 0,
    summaryMessages: 0,
  };
  readonly #options: ReplicatorOptions;
  readonly #subscription: Subscription;
  /** Backup nodes with a round going out: one message in flight, the rest of the round queued. */
  readonly #sending = new Set<NodeId>();
  /** Of those, the ones whose round is more than one message: a backlog going out. */
  readonly #backlogged = new Set<NodeId>();
  /** Per backup node, tables written since its last round took them: the next round's work. */
  readonly #due = new Map<NodeId, Set<DeviceFlowTable>>();
  /** The scheduled send of what is due, if one is pending. */
  #flush: Subscription | undefined;
  /** Backup nodes whose round just ended with more owed: their next round, at the turn's end. */
  readonly #pending = new Set<NodeId>();
  /** The scheduled start of those rounds, if one is pending. */
  #next: Subscription | undefined;
  #closed = false;
  /** The last backup message built, with what it was built from (see `#requestOf`). */
  #lastRequest:
    | { readonly outgoing: readonly Outgoing[]; readonly request: MessageOf<"BackupRequest"> }
    | undefined;

  constructor(options: ReplicatorOptions) {
    this.#options = options;
    const { config$, scheduler } = options;
    const every = (pick: (config: StoreConfig) => number) =>
      config$.pipe(
        map(pick),
        distinctUntilChanged(),
        switchMap((period) => interval(period, scheduler)),
      );
    this.#subscription = merge(
      every((c) => c.backupPeriod).pipe(map(() => "backup" as const)),
      every((c) => c.antiEntropyPeriod).pipe(map(() => "anti-entropy" as const)),
    ).subscribe((round) => (round === "backup" ? this.backupRound() : this.antiEntropyRound()));
    this.#subscription.add(
      options.channel.serve(SUBJECTS.backup, (request) => this.#onBackup(request)),
    );
    this.#subscription.add(
      options.channel.serve(SUBJECTS.summary, (request) => this.#onSummary(request)),
    );
  }

  /** Sends every backup that is due: per backup node one message, or a queue of them for big changes. */
  backupRound(): void {
    const nodes = new Set<NodeId>();
    for (const table of this.#options.tables()) {
      if (table.isActiveMaster) for (const node of table.backups) nodes.add(node);
    }
    for (const node of nodes) this.#backupTo(node, this.#options.tables());
    this.#lastRequest = undefined;
  }

  /**
   * `table` was written: its backups get the change on the scheduler's next turn (with every
   * other write of this turn), or when the round going out to them ends.
   */
  changed(table: DeviceFlowTable): void {
    if (this.#closed) return;
    for (const node of table.backups) {
      const due = this.#due.get(node);
      if (due === undefined) this.#due.set(node, new Set([table]));
      else due.add(table);
    }
    if (this.#flush !== undefined) return;
    this.#flush = pending(
      (work) => this.#options.scheduler.schedule(work),
      () => {
        this.#flush = undefined;
        this.#sendDue([...this.#due.keys()]);
      },
    );
  }

  /**
   * Starts a round to each of `nodes` with what is due to it — unless one is going out to it
   * already: that round's end takes it.
   */
  #sendDue(nodes: readonly NodeId[]): void {
    for (const node of nodes) {
      const due = this.#due.get(node);
      if (due === undefined || this.#sending.has(node)) continue;
      this.#due.delete(node);
      this.#backupTo(node, due);
    }
    this.#lastRequest = undefined;
  }

  /** Starts a round to `node` with what `tables` owe it, unless one is going out already. */
  #backupTo(node: NodeId, tables: Iterable<DeviceFlowTable>): void {
    if (this.#closed || this.#sending.has(node)) return;
    const outgoing: Outgoing[] = [];
    for (const table of tables) {
      const info = table.info;
      if (info === undefined || !table.isActiveMaster || !table.backups.includes(node)) continue;
      const payloads = table.takeBackups(node);
      if (payloads.length > 0) outgoing.push({ table, term: info.term, payloads });
    }
    if (outgoing.length === 0) return;
    const messages = [...this.#chunks(outgoing)];
    this.#sending.add(node);
    if (messages.length > 1) this.#backlogged.add(node);
    void this.#sendRound(node, messages);
  }

  /** Sends a round's messages to `node` one after another; stops at the first failure. */
  async #sendRound(node: NodeId, messages: Outgoing[][]): Promise<void> {
    try {
      for (const [i, message] of messages.entries()) {
        // Messages not sent (closed, or one before them failed) are owed again from the next round.
        if (this.#closed) {
          this.#release(node, messages.slice(i));
          return;
        }
        if (!(await this.#send(node, message))) {
          this.#release(node, messages.slice(i + 1));
          return;
        }
      }
    } finally {
      this.#sending.delete(node);
      this.#backlogged.delete(node);
    }
    // Changes made while the round was out follow at the end of this turn, so a busy device's
    // lag is a round trip, not a period. Its buckets were just acknowledged, so this costs
    // what changed meanwhile (deltas), not the tables again. Not at once: what the rest of
    // this turn does to those changes goes with them — the device's acknowledgement that
    // makes the flows just written ADDED, instead of a second copy of each in the next
    // round — and the other backups' rounds that end this turn start with this one, so
    // they share its message.
    const next = this.#due.get(node) ?? new Set<DeviceFlowTable>();
    for (const message of messages)
      for (const item of message) if (item.table.hasUnackedChanges(node)) next.add(item.table);
    if (next.size === 0) return;
    this.#due.set(node, next);
    this.#pending.add(node);
    if (this.#next !== undefined) return;
    this.#next = pending(
      (work) => endOfTurn(this.#options.scheduler, work),
      () => {
        this.#next = undefined;
        const waiting = [...this.#pending];
        this.#pending.clear();
        this.#sendDue(waiting);
      },
    );
  }

  /** Gives back the in-flight marks of buckets that were taken but not delivered. */
  #release(node: NodeId, messages: readonly (readonly Outgoing[])[]): void {
    for (const message of messages)
      for (const item of message) item.table.backupDone(node, item.term, item.payloads, undefined);
  }

  /** Splits a round's payloads into messages of at most `maxEntriesPerMessage` entries. */
  *#chunks(outgoing: readonly Outgoing[]): Iterable<Outgoing[]> {
    const limit = this.#options.maxEntriesPerMessage ?? BACKUP_MESSAGE_ENTRIES;
    let chunk: Outgoing[] = [];
    let size = 0;
    for (const item of outgoing) {
      let current: BackupPayload[] = [];
      for (const payload of item.payloads) {
        if (size > 0 && size + payload.size > limit) {
          if (current.length > 0) chunk.push({ ...item, payloads: current });
          yield chunk;
          chunk = [];
          current = [];
          size = 0;
        }
        current.push(payload);
        size += payload.size;
      }
      if (current.length > 0) chunk.push({ ...item, payloads: current });
    }
    if (chunk.length > 0) yield chunk;
  }

  /** Sends one backup message and records its outcome; `false` if it failed. */
  async #send(node: NodeId, outgoing: readonly Outgoing[]): Promise<boolean> {
    const request = this.#requestOf(outgoing);
    this.stats.backupMessages++;
    try {
      const reply = await this.#options.channel.call(
        node,
        SUBJECTS.backup,
        request,
        this.#options.config().requestTimeout,
      );
      outgoing.forEach((item, i) => {
        item.table.backupDone(node, item.term, item.payloads, reply.devices[i]);
      });
      this.stats.backupBuckets += outgoing.reduce((n, item) => n + item.payloads.length, 0);
      return true;
    } catch (error) {
      this.stats.backupFailures++;
      this.#options.log.debug("backup failed", { node, error: String(error) });
      this.#release(node, [outgoing]);
      return false;
    }
  }

  /**
   * The backup message of `outgoing`. The backups of a device are usually owed the same
   * payloads (they acknowledged the same versions; the ledger hands them the same objects):
   * then the message built for the first is reused, and the channel encodes it once.
   */
  #requestOf(outgoing: readonly Outgoing[]): MessageOf<"BackupRequest"> {
    const last = this.#lastRequest;
    if (last !== undefined && sameOutgoing(last.outgoing, outgoing)) return last.request;
    const request: MessageOf<"BackupRequest"> = {
      devices: outgoing.map((item) => ({
        deviceId: item.table.deviceId,
        term: item.term,
        clock: item.table.table.clock.current,
        buckets: item.payloads.flatMap((p) => (p.kind === "whole" ? [p.snapshot] : [])),
        deltas: item.payloads.flatMap((p) => (p.kind === "delta" ? [p.delta] : [])),
      })),
    };
    // Kept for the other backups of this sweep (the rounds above forget it when they end).
    this.#lastRequest = { outgoing, request };
    return request;
  }

  #onBackup(request: MessageOf<"BackupRequest">): MessageOf<"BackupReply"> {
    return {
      devices: request.devices.map((device) => {
        const table = this.#options.table(device.deviceId);
        table.table.clock.observe(device.clock);
        return table.receiveBackup(device.term, device.buckets, device.deltas);
      }),
    };
  }

  /**
   * `table`'s term just became active here: its backups compare their copies with it at
   * once rather than at the next anti-entropy period, so that a backup restarted with its
   * disk learns straight away that its copy is the live master's (see
   * `DeviceFlowTable.confirmedByMaster`) and a failover soon after need not wait
   * `restartSyncTimeout` for the dead master.
   */
  activated(table: DeviceFlowTable): void {
    if (this.#closed || !table.isActiveMaster) return;
    for (const node of table.backups) {
      if (!this.#backlogged.has(node)) void this.#compare(node, [table]);
    }
  }

  /**
   * Compares summaries with every backup: one message per backup node, a checksum per device;
   * the backup answers with bucket digests only for the devices that differ. A backup node
   * with a backlog still going out to it (a round of several messages) is left for the next
   * period: its devices differ by what the master already knows it owes, and their digests
   * would only add to its load.
   */
  antiEntropyRound(): void {
    const perNode = new Map<NodeId, DeviceFlowTable[]>();
    for (const table of this.#options.tables()) {
      if (!table.isActiveMaster) continue;
      for (const node of table.backups) {
        if (this.#backlogged.has(node)) continue;
        const list = perNode.get(node) ?? [];
        list.push(table);
        perNode.set(node, list);
      }
    }
    for (const [node, tables] of perNode) void this.#compare(node, tables);
  }

  async #compare(node: NodeId, tables: readonly DeviceFlowTable[]): Promise<void> {
    const request: MessageOf<"SummaryRequest"> = {
      devices: tables.map((table) => ({
        deviceId: table.deviceId,
        term: table.info?.term ?? 0,
        clock: table.table.clock.current,
        checksum: table.summary().checksum,
      })),
    };
    this.stats.summaryMessages++;
    try {
      const reply = await this.#options.channel.call(
        node,
        SUBJECTS.summary,
        request,
        this.#options.config().requestTimeout,
      );
      const byDevice = new Map(tables.map((t) => [t.deviceId as string, t]));
      const differing = new Set(reply.devices.map((d) => d.deviceId as string));
      tables.forEach((table, i) => {
        if (!differing.has(table.deviceId)) table.markInSync(node, request.devices[i]!.checksum);
      });
      for (const device of reply.devices) {
        const table = byDevice.get(device.deviceId);
        if (table === undefined || device.term !== table.info?.term) continue;
        const newer = table.reconcile(node, device.digests);
        if (newer.length > 0) {
          this.#options.log.info("a backup has newer buckets than the master; pulling them", {
            device: device.deviceId,
            node,
            buckets: newer.length,
          });
          await table.pull(node, newer).catch((error: unknown) =>
            this.#options.log.debug("pull failed", {
              device: device.deviceId,
              node,
              error: String(error),
            }),
          );
        }
      }
    } catch (error) {
      this.#options.log.debug("anti-entropy failed", { node, error: String(error) });
    }
  }

  #onSummary(request: MessageOf<"SummaryRequest">): MessageOf<"SummaryReply"> {
    const devices: MessageOf<"SummaryReply">["devices"] = [];
    for (const device of request.devices) {
      const table = this.#options.table(device.deviceId);
      table.table.clock.observe(device.clock);
      table.observeTerm(device.term);
      const term = table.info?.term ?? 0;
      if (term === device.term && table.summary().checksum === device.checksum) {
        table.confirmedByMaster(term);
        continue;
      }
      devices.push({ deviceId: device.deviceId, term, digests: table.digests() });
    }
    return { devices };
  }

  /** Stops the rounds and the handlers. */
  close(): void {
    this.#closed = true;
    this.#flush?.unsubscribe();
    this.#next?.unsubscribe();
    this.#lastRequest = undefined;
    this.#due.clear();
    this.#pending.clear();
    this.#subscription.unsubscribe();
  }
}

/**
 * `work`, scheduled by `schedule`: the subscription that cancels it while it waits, or
 * undefined once it ran — at once, with a scheduler that runs actions synchronously (RxJS's
 * `queueScheduler`), before `schedule` returned.
 */
function pending(
  schedule: (work: () => void) => Subscription,
  work: () => void,
): Subscription | undefined {
  let ran = false;
  const subscription = schedule(() => {
    ran = true;
    work();
  });
  return ran ? undefined : subscription;
}

/** Whether two backup messages' worth of payloads are the same objects, at the same clock. */
function sameOutgoing(a: readonly Outgoing[], b: readonly Outgoing[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.table !== y.table || x.term !== y.term || x.payloads.length !== y.payloads.length) {
      return false;
    }
    for (let j = 0; j < x.payloads.length; j++) if (x.payloads[j] !== y.payloads[j]) return false;
  }
  return true;
}
