import type { EcFlowRuleStore } from "@flowstore/ec-flow-store";
import { FLOW_ENTRY_STATES } from "@flowstore/flow-bucket";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { DeviceFleet } from "./deviceSimulator.js";

type StoreStats = ReturnType<EcFlowRuleStore["stats"]>;

/** What one node's metrics read. */
export interface MetricsSource {
  readonly nodeId: string;
  readonly store: EcFlowRuleStore;
  readonly fleet: DeviceFleet;
}

/** One node's Prometheus registry and the instruments the REST layer records into. */
export interface NodeMetrics {
  readonly registry: Registry;
  /** REST request latency, by method, route pattern and status. */
  readonly restDuration: Histogram<"method" | "route" | "status">;
  /** Latency of a flow batch handed to the store (until its master stored it), by operator. */
  readonly batchDuration: Histogram<"operation">;
  /** The Prometheus text exposition. */
  text(): Promise<string>;
  readonly contentType: string;
}

/**
 * A node's metrics: process metrics (`process_*`, `nodejs_*`), REST and batch latency
 * histograms, and the store's `flowstore_*` figures (flows by state on mastered devices,
 * backup lag, replication traffic, terms), read when scraped. Every sample carries
 * `node="<id>"`, so several nodes in one process (`--local`) keep apart.
 */
export function createNodeMetrics(source: MetricsSource): NodeMetrics {
  const { store, fleet, nodeId } = source;
  const registry = new Registry();
  registry.setDefaultLabels({ node: nodeId });
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  // One snapshot of the store's figures per scrape: every collector of a scrape runs in the
  // same turn, and a snapshot walks every mastered table (the backup lag) — once, not once
  // per metric.
  let snapshot: StoreStats | undefined;
  const stats = (): StoreStats => {
    if (snapshot === undefined) {
      snapshot = store.stats();
      setImmediate(() => {
        snapshot = undefined;
      });
    }
    return snapshot;
  };

  const restDuration = new Histogram({
    name: "flowstore_rest_request_duration_seconds",
    help: "REST request latency, by method, route and status.",
    labelNames: ["method", "route", "status"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const batchDuration = new Histogram({
    name: "flowstore_batch_duration_seconds",
    help: "Latency of a flow batch stored through the device's master, by operator.",
    labelNames: ["operation"] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers,
  });

  new Gauge({
    name: "flowstore_flows",
    help: "Flow entries on the devices this node masters, by state.",
    labelNames: ["state"] as const,
    registers,
    collect() {
      // Maintained by the store as entries change: no walk over the entries.
      const counts = store.flowStateCounts();
      for (const state of FLOW_ENTRY_STATES) this.set({ state }, counts[state]);
    },
  });
  new Gauge({
    name: "flowstore_mastered_devices",
    help: "Devices this node masters in an active term.",
    registers,
    collect() {
      this.set(stats().masteredDevices);
    },
  });
  new Gauge({
    name: "flowstore_backup_lag_buckets",
    help: "Changed buckets some backup has not acknowledged yet.",
    registers,
    collect() {
      this.set(stats().unackedBuckets);
    },
  });
  new Gauge({
    name: "flowstore_backup_lag_seconds",
    help: "Age of the oldest batch this node applied as master that no backup holds yet (the most of any device; see maxBackupLag).",
    registers,
    collect() {
      this.set(stats().backupLagMs / 1000);
    },
  });
  /** A counter that reads one figure of the scrape's store stats (0 when it has none). */
  const statsCounter = (name: string, help: string, read: (s: StoreStats) => number | undefined) =>
    new Counter({
      name,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(read(stats()) ?? 0);
      },
    });
  statsCounter(
    "flowstore_backup_messages_total",
    "Backup messages sent.",
    (s) => s.replication.backupMessages,
  );
  statsCounter(
    "flowstore_backup_buckets_total",
    "Buckets acknowledged by backups.",
    (s) => s.replication.backupBuckets,
  );
  statsCounter(
    "flowstore_backup_failures_total",
    "Backup messages that failed.",
    (s) => s.replication.backupFailures,
  );
  statsCounter(
    "flowstore_sync_batches_total",
    "Batches acknowledged as master with --replication sync.",
    (s) => s.sync.syncBatches,
  );
  statsCounter(
    "flowstore_under_replicated_batches_total",
    "Sync batches acknowledged by fewer backups than --min-sync-backups (too few alive, or too slow).",
    (s) => s.sync.underReplicatedBatches,
  );
  // --data-dir: how far the disk is behind, and what was written to it.
  new Gauge({
    name: "flowstore_disk_lag_seconds",
    help: "Age of the oldest change not yet committed to disk (--data-dir; 0 without it).",
    registers,
    collect() {
      this.set((stats().persistence?.lagMs ?? 0) / 1000);
    },
  });
  statsCounter(
    "flowstore_disk_commits_total",
    "Commits of changed buckets to disk.",
    (s) => s.persistence?.commits,
  );
  statsCounter(
    "flowstore_disk_entries_total",
    "Flow entries written to (or removed from) disk.",
    (s) => s.persistence?.entries,
  );
  statsCounter(
    "flowstore_disk_failures_total",
    "Commits to disk that failed (retried with the next).",
    (s) => s.persistence?.failures,
  );
  statsCounter(
    "flowstore_anti_entropy_messages_total",
    "Anti-entropy summary messages sent.",
    (s) => s.replication.summaryMessages,
  );
  const perSubject = (name: string, help: string, pick: "messages" | "bytes") =>
    new Counter({
      name,
      help,
      labelNames: ["subject"] as const,
      registers,
      collect() {
        this.reset();
        for (const [subject, sent] of stats().sent) this.inc({ subject }, sent[pick]);
      },
    });
  perSubject("flowstore_store_messages_total", "Store requests sent, by subject.", "messages");
  perSubject(
    "flowstore_store_bytes_total",
    "Encoded bytes of store requests sent, by subject.",
    "bytes",
  );
  new Gauge({
    name: "flowstore_device_term",
    help: "Mastership term of each device as this node knows it.",
    labelNames: ["device"] as const,
    registers,
    collect() {
      for (const device of fleet.ids()) this.set({ device }, store.term(device));
    },
  });

  return {
    registry,
    restDuration,
    batchDuration,
    text: () => registry.metrics(),
    contentType: registry.contentType,
  };
}
