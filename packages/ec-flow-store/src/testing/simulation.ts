import { createRandom, type NodeId } from "@flowstore/cluster-messaging";
import { createFlowEntry, type FlowId, type FlowRule } from "@flowstore/flow-bucket";
import type { EcFlowRuleStore } from "../ecFlowRuleStore.js";
import { device, rule, startSimCluster } from "./simCluster.js";

/** What a simulation run found: empty `violations` means every invariant held. */
export interface SimulationReport {
  readonly seed: number;
  readonly nodes: number;
  readonly writes: number;
  readonly acknowledged: number;
  readonly removed: number;
  readonly crashes: number;
  readonly violations: string[];
  readonly log: string[];
}

const BACKUP_PERIOD = 100;
const ANTI_ENTROPY_PERIOD = 300;
const REQUEST_TIMEOUT = 200;
const MAX_DELAY = 20;
const STEP = 10;
/** A flow acknowledged this long before its master crashed must survive the crash. */
const SAFE_AGE = BACKUP_PERIOD + 2 * MAX_DELAY + 3 * STEP;

interface Ack {
  readonly flow: FlowRule;
  readonly at: number;
  readonly master: NodeId;
  /** Acknowledged by sync replication: a crash of its master right after must not lose it. */
  readonly sync?: boolean;
}

/**
 * One seeded run: 3–5 nodes and a few devices on the cluster's in-memory network in virtual
 * time, random writes and removals from random nodes, message loss and delay, partitions,
 * mastership moves, master crashes and restarts (with an empty memory); then the faults stop
 * and the invariants are checked.
 */
export async function simulate(
  seed: number,
  options: { readonly replication?: "async" | "sync" } = {},
): Promise<SimulationReport> {
  const sync = options.replication === "sync";
  const random = createRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const size = 3 + (seed % 3);
  const devices = [device(1), device(2), device(3)];
  const log: string[] = [];
  const violations: string[] = [];
  const acks = new Map<FlowId, Ack>();
  const removals = new Map<FlowId, Ack>();
  const crashes: { node: NodeId; at: number }[] = [];
  /**
   * Syncs that gave up a previous master: its last writes may be lost. `partitioned`: it was
   * alive (a partition, not a crash) — then even a write backed up synchronously may be, when
   * the backup that held it was cut off too.
   */
  const degraded: { node: NodeId; device: string; at: number; partitioned: boolean }[] = [];
  let isAlive = (_node: NodeId) => true;
  let now = () => 0;
  const say = (line: string) => log.push(`${String(now()).padStart(6)} ${line}`);

  const cluster = await startSimCluster(size, devices, {
    seed,
    config: {
      backupPeriod: BACKUP_PERIOD,
      antiEntropyPeriod: ANTI_ENTROPY_PERIOD,
      requestTimeout: REQUEST_TIMEOUT,
      bucketCount: 16,
      ...(sync ? { replication: "sync" as const } : {}),
    },
    log: (node) => ({
      debug: (message, fields) => {
        if (process.env.SIM_DEBUG) say(`${node}: debug ${message} ${JSON.stringify(fields)}`);
      },
      info: (message, fields) => {
        if (process.env.SIM_DEBUG) say(`${node}: ${message} ${JSON.stringify(fields)}`);
      },
      warn: (message, fields) => {
        say(`${node}: ${message} ${JSON.stringify(fields)}`);
        if (message === "previous master did not answer" && fields?.node !== undefined) {
          degraded.push({
            node: fields.node as NodeId,
            device: String(fields.device),
            at: now(),
            partitioned: isAlive(fields.node as NodeId),
          });
        }
      },
      error: (message, fields) => say(`${node}: ERROR ${message} ${JSON.stringify(fields)}`),
    }),
    onStore: (node: NodeId, store: EcFlowRuleStore) => {
      store.events$.subscribe((event) => {
        // With sync replication a write is acknowledged when storeBatch resolves (see write).
        if (event.type === "BATCH_REQUESTED" && !sync) {
          for (const op of event.batch.operations) {
            if (op.operator === "ADD")
              acks.set(op.rule.id, { flow: op.rule, at: now(), master: node });
          }
        } else if (event.type === "RULE_REMOVED") {
          removals.set(event.entry.rule.id, { flow: event.entry.rule, at: now(), master: node });
        }
      });
    },
  });
  const { scheduler, network, coordinator, nodes, stores, alive } = cluster;
  now = () => scheduler.now();
  isAlive = (node) => alive.has(node);
  let writes = 0;

  /** Bucket terms only grow on every replica (a table cleared as a whole excepted). */
  const lastTerms = new Map<string, number>();
  const checkTerms = () => {
    for (const [node, store] of stores) {
      for (const d of devices) {
        const table = store.localTable(d);
        if (table === undefined || table.size === 0) continue;
        for (const bucket of table.buckets()) {
          if (bucket.term === 0 && bucket.timestamp === 0) continue;
          const key = `${node}/${d}/${bucket.index}`;
          const before = lastTerms.get(key) ?? 0;
          if (bucket.term < before) {
            violations.push(
              `${now()}: bucket ${d}/${bucket.index} on ${node} went back from term ${before} to ${bucket.term}`,
            );
          }
          lastTerms.set(key, Math.max(before, bucket.term));
        }
      }
    }
  };
  const advance = async (ms: number) => {
    const end = now() + ms;
    while (now() < end) {
      await cluster.advance(STEP, STEP);
      checkTerms();
    }
  };
  const setAllLinks = (conditions: { dropRate: number; delayMs: number; jitterMs: number }) => {
    for (const a of nodes) for (const b of nodes) if (a !== b) network.setLink(a, b, conditions);
  };

  let counter = 0;
  const liveNodes = () => nodes.filter((n) => alive.has(n));
  /** Adds `flows` through `node`; with sync replication, records the acknowledgement. */
  const add = (node: NodeId, d: (typeof devices)[number], flows: readonly FlowRule[]) => {
    writes++;
    const store = stores.get(node)!;
    return store
      .storeBatchWithReceipt({
        deviceId: d,
        operations: flows.map((f) => ({ operator: "ADD", rule: f })),
      })
      .then((receipt) => {
        if (!sync || receipt.degraded) return false;
        const master = coordinator.mastership(d).master ?? node;
        for (const f of flows) acks.set(f.id, { flow: f, at: now(), master, sync: true });
        return true;
      })
      .catch(() => false);
  };
  const write = () => {
    const node = pick(liveNodes());
    const d = pick(devices);
    const store = stores.get(node)!;
    if (random() < 0.8 || acks.size === 0) {
      const flows = Array.from({ length: 1 + Math.floor(random() * 5) }, () =>
        rule(d, ++counter, 1 + (counter % 3)),
      );
      void add(node, d, flows);
    } else {
      const target = pick([...acks.values()]);
      if (removals.has(target.flow.id)) return;
      void store
        .removeFlowRule(createFlowEntry(target.flow, { created: Number.MAX_SAFE_INTEGER }))
        .catch(() => {});
    }
  };
  const crash = async (node: NodeId) => {
    say(`crash ${node}`);
    crashes.push({ node, at: now() });
    for (const key of [...lastTerms.keys()]) if (key.startsWith(`${node}/`)) lastTerms.delete(key);
    await cluster.crash(node);
  };
  const restart = async (node: NodeId) => {
    say(`restart ${node}`);
    await cluster.restart(node);
  };

  /**
   * Mastership of a device moves two or three times within a few milliseconds, right after a
   * burst of writes on its master: each new master starts synchronizing before the last one
   * has finished (or activated). A new master must still end up with every acknowledged
   * write of the last activated term.
   */
  const rapidHandOvers = async () => {
    const d = pick(devices);
    const first = coordinator.mastership(d).master;
    if (first === undefined || !alive.has(first)) return;
    for (let i = 0; i < 3; i++) void add(first, d, [rule(d, ++counter, 1 + (counter % 3))]);
    const moves = 2 + Math.floor(random() * 2);
    say(`rapid hand-overs of ${d} (${moves}) from ${first}`);
    for (let i = 0; i < moves; i++) {
      const m = coordinator.mastership(d).master;
      if (m === undefined || !alive.has(m)) return;
      await coordinator.forNode(m).relinquish(d);
      await coordinator.forNode(m).requestRoleFor(d);
      await cluster.advance(1 + Math.floor(random() * 3), 1);
    }
  };

  /**
   * Every mastered device reports its flows' counters, as switches do every stats period:
   * counter-only reports must send no backup (they are soft state).
   */
  const report = async () => {
    const sentBefore = [...stores.values()].reduce(
      (sum, store) => sum + store.stats().replication.backupBuckets,
      0,
    );
    let counterOnly = true;
    for (const d of devices) {
      const m = coordinator.mastership(d).master;
      const store = m === undefined ? undefined : stores.get(m);
      const table = store?.localTable(d);
      if (store === undefined || table === undefined || !store.isActiveMaster(d)) continue;
      if (table.countOf("PENDING_ADD") > 0) counterOnly = false;
      const reports = [...table.entries()]
        .filter((e) => e.state === "ADDED" || e.state === "PENDING_ADD")
        .map((e) => ({ rule: e.rule, packets: now(), bytes: 64 * now(), life: 1 }));
      await store.updateFlowStatistics(d, reports, { complete: false }).catch(() => {});
    }
    return { sentBefore, counterOnly };
  };

  // Epochs: a messy one (loss, delay, a cut link, a mastership move), then a calm one at
  // whose end a master may crash; crashed nodes come back empty one epoch later.
  let crashCount = 0;
  for (let epoch = 0; epoch < 6; epoch++) {
    setAllLinks({ dropRate: random() * 0.2, delayMs: 1, jitterMs: MAX_DELAY });
    const a = pick(nodes);
    const b = pick(nodes);
    if (a !== b && random() < 0.5) {
      say(`cut ${a} | ${b}`);
      network.setLink(a, b, { dropRate: 1 });
      network.setLink(b, a, { dropRate: 1 });
    }
    if (random() < 0.5) {
      const d = pick(devices);
      const m = coordinator.mastership(d).master;
      if (m !== undefined && alive.has(m)) {
        say(`move ${d} away from ${m}`);
        await coordinator.forNode(m).relinquish(d);
        await coordinator.forNode(m).requestRoleFor(d);
      }
    }
    for (let i = 0; i < 20; i++) {
      write();
      await advance(20);
    }
    setAllLinks({ dropRate: 0, delayMs: 1, jitterMs: 4 });
    say("calm");
    if (random() < 0.5) await rapidHandOvers();
    for (let i = 0; i < 20; i++) {
      write();
      await advance(25);
    }
    if (!sync) await advance(SAFE_AGE);
    for (const node of nodes) if (!alive.has(node)) await restart(node);
    if (sync && random() < 0.6 && liveNodes().length === size) {
      // Sync replication: the master crashes the moment a write is acknowledged.
      const d = pick(devices);
      const m = coordinator.mastership(d).master;
      if (m !== undefined && alive.has(m)) {
        let acknowledged: boolean | undefined;
        void add(m, d, [rule(d, ++counter, 1)]).then((ok) => {
          acknowledged = ok;
        });
        for (let i = 0; i < 100 && acknowledged === undefined; i++) await cluster.advance(1, 1);
        if (acknowledged === true) {
          say(`crash right after an acknowledged write to ${d}: flow ${counter}`);
          await crash(m);
          crashCount++;
        }
      }
    } else if (random() < 0.6 && liveNodes().length === size) {
      const m = coordinator.mastership(pick(devices)).master;
      if (m !== undefined) {
        await crash(m);
        crashCount++;
      }
    }
    await advance(50);
  }

  // Faults stop: everyone back, network healed; replicas must converge within two
  // anti-entropy periods (after the rebalance and one synchronization).
  setAllLinks({ dropRate: 0, delayMs: 1, jitterMs: 0 });
  for (const node of nodes) if (!alive.has(node)) await restart(node);
  await advance(600);
  await advance(2 * ANTI_ENTROPY_PERIOD + BACKUP_PERIOD);

  // Switches report: the first report turns PENDING_ADD into ADDED (replicated); from then on
  // reports change counters only, and must send nothing to the backups.
  await report();
  await advance(2 * BACKUP_PERIOD);
  const quiet = await report();
  await advance(2 * BACKUP_PERIOD);
  const sentAfter = [...stores.values()].reduce(
    (sum, store) => sum + store.stats().replication.backupBuckets,
    0,
  );
  if (quiet.counterOnly && sentAfter !== quiet.sentBefore) {
    violations.push(
      `counter-only reports sent ${sentAfter - quiet.sentBefore} bucket(s) to backups`,
    );
  }
  // A write acknowledged by sync replication is held by a backup: no crash may lose it — only
  // a partition that cut off every node holding it from a new master of its device.
  const lostAllowed = (ack: Ack) =>
    ack.sync === true
      ? degraded.some((d) => d.partitioned && d.device === ack.flow.deviceId && ack.at <= d.at)
      : crashes.some((c) => c.node === ack.master && ack.at <= c.at && c.at - ack.at < SAFE_AGE) ||
        degraded.some((d) => d.node === ack.master && ack.at <= d.at);

  for (const d of devices) {
    const info = coordinator.mastership(d);
    const master = info.master;
    if (master === undefined) {
      violations.push(`${d} has no master at the end`);
      continue;
    }
    const masterStore = stores.get(master)!;
    if (!masterStore.isActiveMaster(d))
      violations.push(`${d}: master ${master} is not active at the end`);
    const table = masterStore.localTable(d);
    const present = new Set([...(table?.entries() ?? [])].map((e) => e.rule.id));
    for (const ack of acks.values()) {
      if (ack.flow.deviceId !== d || removals.has(ack.flow.id) || lostAllowed(ack)) continue;
      if (!present.has(ack.flow.id)) {
        violations.push(
          `${d}: flow ${ack.flow.id} acknowledged at ${ack.at} on ${ack.master} is missing on ${master}`,
        );
      }
    }
    for (const removal of removals.values()) {
      if (removal.flow.deviceId !== d || lostAllowed(removal)) continue;
      if (present.has(removal.flow.id))
        violations.push(`${d}: flow ${removal.flow.id} removed at ${removal.at} came back`);
    }
    const summary = table?.summary().checksum ?? 0;
    for (const backup of info.backups.slice(0, 2)) {
      const theirs = stores.get(backup)?.localTable(d)?.summary().checksum ?? 0;
      if (theirs !== summary)
        violations.push(`${d}: backup ${backup} has not converged with master ${master}`);
    }
  }

  await cluster.close();
  return {
    seed,
    nodes: size,
    writes,
    acknowledged: acks.size,
    removed: removals.size,
    crashes: crashCount,
    violations,
    log,
  };
}
