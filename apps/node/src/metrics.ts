import type { EcFlowRuleStore } from "@flowstore/ec-flow-store";
import { FLOW_ENTRY_STATES } from "@flowstore/flow-bucket";
import type { DeviceFleet } from "./deviceSimulator.js";

/** What one node's `/metrics` reports. */
export interface MetricsSource {
  readonly nodeId: string;
  readonly store: EcFlowRuleStore;
  readonly fleet: DeviceFleet;
  /** Messages and bytes the transport moved, when it counts them. */
  readonly transport?: () => Record<string, number>;
}

/**
 * Prometheus text exposition of one node: flows by state on the devices it masters,
 * backup lag, replication traffic, terms, and process memory.
 */
export function renderMetrics(source: MetricsSource): string {
  const { store, fleet, nodeId } = source;
  const lines: string[] = [];
  const metric = (
    name: string,
    type: "gauge" | "counter",
    help: string,
    samples: [string, number][],
  ) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`);
  };
  const byState = new Map<string, number>(FLOW_ENTRY_STATES.map((s) => [s, 0]));
  const terms: [string, number][] = [];
  for (const id of fleet.ids()) {
    terms.push([id, store.term(id)]);
    if (!store.isActiveMaster(id)) continue;
    for (const entry of store.localTable(id)?.entries() ?? []) {
      byState.set(entry.state, (byState.get(entry.state) ?? 0) + 1);
    }
  }
  const stats = store.stats();
  const label = `node="${nodeId}"`;
  metric(
    "flowstore_flows",
    "gauge",
    "Flow entries on the devices this node masters, by state.",
    [...byState].map(([state, n]) => [`{${label},state="${state}"}`, n]),
  );
  metric("flowstore_mastered_devices", "gauge", "Devices this node masters in an active term.", [
    [`{${label}}`, stats.masteredDevices],
  ]);
  metric(
    "flowstore_backup_lag_buckets",
    "gauge",
    "Changed buckets some backup has not acknowledged yet.",
    [[`{${label}}`, stats.unackedBuckets]],
  );
  const r = stats.replication;
  metric("flowstore_backup_messages_total", "counter", "Backup messages sent.", [
    [`{${label}}`, r.backupMessages],
  ]);
  metric("flowstore_backup_buckets_total", "counter", "Buckets acknowledged by backups.", [
    [`{${label}}`, r.backupBuckets],
  ]);
  metric("flowstore_backup_failures_total", "counter", "Backup messages that failed.", [
    [`{${label}}`, r.backupFailures],
  ]);
  metric(
    "flowstore_anti_entropy_messages_total",
    "counter",
    "Anti-entropy summary messages sent.",
    [[`{${label}}`, r.summaryMessages]],
  );
  metric(
    "flowstore_store_messages_total",
    "counter",
    "Store requests sent, by subject.",
    [...stats.sent].map(([subject, s]) => [`{${label},subject="${subject}"}`, s.messages]),
  );
  metric(
    "flowstore_store_bytes_total",
    "counter",
    "Encoded bytes of store requests sent, by subject.",
    [...stats.sent].map(([subject, s]) => [`{${label},subject="${subject}"}`, s.bytes]),
  );
  metric(
    "flowstore_device_term",
    "gauge",
    "Mastership term of each device as this node knows it.",
    terms.map(([device, term]) => [`{${label},device="${device}"}`, term]),
  );
  const transport = source.transport?.();
  if (transport !== undefined) {
    for (const [name, value] of Object.entries(transport)) {
      metric(`flowstore_transport_${name}`, "counter", `Transport ${name.replaceAll("_", " ")}.`, [
        [`{${label}}`, value],
      ]);
    }
  }
  metric("process_resident_memory_bytes", "gauge", "Resident memory of the process.", [
    ["", process.memoryUsage().rss],
  ]);
  return `${lines.join("\n")}\n`;
}
