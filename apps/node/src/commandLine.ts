import { parseArgs } from "node:util";
import { ConfigError, parseRunConfig, type RunConfig, readConfigFile } from "./config.js";

/** The `--help` text. */
export const usage = `flowstore-node — a flowstore cluster node

Usage:
  flowstore-node --local 3                  three nodes in this process (REST on 8181, 8182, 8183)
  flowstore-node --id n1 --listen 127.0.0.1:9876 \\
      --peers n2=127.0.0.1:9877,n3=127.0.0.1:9878 --etcd http://127.0.0.1:2379 \\
      --rest 127.0.0.1:8181 --devices 8    one node of a multi-process cluster
  flowstore-node --config node.json         the same fields from a JSON file (flags win)

One process, several nodes (embedded coordination, no outside services):
  --local N                 run N nodes (1–9) over loopback TCP in this process
  --rest-port PORT          REST port of node 1; node i uses PORT+i-1 (default 8181; 0: free ports)
  --cluster-port PORT       cluster port of node 1; node i uses PORT+i-1 (default 0: free ports)
  --host HOST               address to bind (default 127.0.0.1)

One node of a multi-process cluster:
  --id ID                   this node's id (letters, digits, . _ -)
  --listen HOST:PORT        where other nodes connect to this one
  --peers ID=HOST:PORT,…    the other nodes
  --etcd URL[,URL…]         etcd endpoints for mastership (without it: this node alone)
  --lease-ttl SECONDS       etcd lease TTL (default 3, minimum 2): failover takes about this long
  --rest HOST:PORT          REST API and /metrics (default 127.0.0.1:8181)

Both:
  --devices N               simulated devices of:0000000000000001… (default 8; same ids on every node)
  --cluster-name NAME       nodes with different names refuse each other (default flowstore)
  --secret SECRET           a shared secret checked in the cluster handshake
  --auth USER:PASSWORD      REST requires HTTP Basic auth (ONOS's onos:rocks is accepted too)
  --stats-period MS         how often devices report flow counters (default 5000, as ONOS)
  --backup-period MS        store: backup round (default 2000)
  --anti-entropy-period MS  store: anti-entropy round (default 5000)
  --backup-count N          store: backups per device (default 2)
  --bucket-count N          store: buckets per device table, a power of two (default 128)
  --request-timeout MS      store: forwarded request timeout (default 5000)
  --sync-timeout MS         store: how long a new master waits for a silent old one (default 500)
  --replication MODE        store: async (default: acknowledged once the master applied it) or
                            sync (acknowledged once --min-sync-backups backups hold it too)
  --min-sync-backups N      store: backups that must hold a sync write (default 1)
  --under-replicated WHAT   store: sync with too few live backups: serve (default; the answer
                            says X-Flowstore-Replication: under-replicated) or refuse (503)
  --max-backup-lag MS       store: past this backup lag (the oldest batch no backup holds) a
                            write waits for the backups (at most this long again, then 503),
                            bounding what async replication can lose (default 1000)
  --data-dir DIR            keep this node's tables on disk (LMDB) and load them at start; with
                            --local N, DIR/n1 … DIR/nN. A full restart keeps every flow
                            committed before it; a directory of another cluster or node is refused
  --commit-interval MS      --data-dir: how often changes are committed to disk (default 100)
  --max-disk-lag MS         --data-dir: past this disk lag a write waits for the disk (at most
                            this long again, then 503), so the disk trails acknowledgements
                            by about that (default 1000)
  --restart-sync-timeout MS --data-dir: after this node starts, its first master of a device
                            waits this long for every other node's copy (default 10000)
  --rebalance-delay MS      a returning node gets devices back after this long up (default 2000)
  --max-moves N             balancing moves at most N devices per --move-interval (default 100)
  --move-interval MS        the window of --max-moves (default 1000)
  --log-level LEVEL         debug | info | warn | error (default info); JSON lines on stdout
                            (coloured lines on a terminal)
  --config FILE             read options from a JSON file (keys as above in camelCase,
                            e.g. {"id":"n1","listen":"127.0.0.1:9876","store":{"backupPeriod":1000}})
  -h, --help                this text

REST API (ONOS's, under /onos/v1; OpenAPI document and page at /onos/v1/docs):
  flows:      GET /flows, /flows/pending, /flows/table/{tableId}, /flows/{deviceId}[/{flowId}];
              GET|DELETE /flows/application/{appId}; POST /flows (batch), /flows/{deviceId};
              DELETE /flows (batch), /flows/{deviceId}/{flowId}
  devices:    GET /devices, /devices/{id}, /devices/{id}/ports
  cluster:    GET /cluster, /cluster/{id}
  mastership: GET /mastership/{deviceId}/local|master|role, /mastership/{nodeId}/device,
              GET|PUT /mastership/{deviceId}/request|relinquish, PUT /mastership,
              GET /mastership (balance)
  statistics: GET /statistics/flows/activeentries, /statistics/flows/tables[/{deviceId}]
  GET /applications/ids[/entry]; with --local: POST /admin/nodes/{nodeId}/stop|start
  GET /metrics (Prometheus). appId: a name or a number; default org.onosproject.rest.
SIGTERM or SIGINT shuts down gracefully.
`;

const flags = {
  local: { type: "string" },
  "rest-port": { type: "string" },
  "cluster-port": { type: "string" },
  host: { type: "string" },
  id: { type: "string" },
  listen: { type: "string" },
  peers: { type: "string" },
  etcd: { type: "string" },
  "lease-ttl": { type: "string" },
  rest: { type: "string" },
  devices: { type: "string" },
  "cluster-name": { type: "string" },
  secret: { type: "string" },
  auth: { type: "string" },
  "stats-period": { type: "string" },
  "backup-period": { type: "string" },
  "anti-entropy-period": { type: "string" },
  "backup-count": { type: "string" },
  "bucket-count": { type: "string" },
  "request-timeout": { type: "string" },
  "sync-timeout": { type: "string" },
  replication: { type: "string" },
  "min-sync-backups": { type: "string" },
  "under-replicated": { type: "string" },
  "rebalance-delay": { type: "string" },
  "data-dir": { type: "string" },
  "commit-interval": { type: "string" },
  "max-disk-lag": { type: "string" },
  "max-backup-lag": { type: "string" },
  "restart-sync-timeout": { type: "string" },
  "max-moves": { type: "string" },
  "move-interval": { type: "string" },
  "log-level": { type: "string" },
  config: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

const NUMERIC = new Set([
  "local",
  "restPort",
  "clusterPort",
  "leaseTtl",
  "devices",
  "statsPeriod",
  "rebalanceDelay",
  "maxMoves",
  "moveInterval",
  "commitInterval",
]);
const STORE = new Set([
  "backupPeriod",
  "antiEntropyPeriod",
  "backupCount",
  "bucketCount",
  "requestTimeout",
  "syncTimeout",
  "minSyncBackups",
  "maxDiskLag",
  "maxBackupLag",
  "restartSyncTimeout",
]);
/** Store settings given as words, not numbers. */
const STORE_WORDS = new Set(["replication", "underReplicated"]);

/** The command line as a {@link RunConfig}: flags over the config file. */
export function parseCommandLine(argv: readonly string[]): RunConfig | "help" {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      // `pnpm start -- --flag` passes the `--` on; the node takes no positional arguments.
      args: argv.filter((arg) => arg !== "--"),
      options: flags,
      allowPositionals: false,
      strict: true,
    }));
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  if (values.help === true) return "help";
  const raw: Record<string, unknown> =
    values.config === undefined ? {} : readConfigFile(String(values.config));
  const store: Record<string, unknown> = {
    ...((raw.store as Record<string, unknown> | undefined) ?? {}),
  };
  for (const [flag, value] of Object.entries(values)) {
    if (flag === "config" || flag === "help" || value === undefined) continue;
    const key = flag.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
    const text = String(value);
    const parsed = NUMERIC.has(key) || STORE.has(key) ? numberOf(flag, text) : text;
    if (STORE.has(key) || STORE_WORDS.has(key)) store[key] = parsed;
    else raw[key] = parsed;
  }
  if (Object.keys(store).length > 0) raw.store = store;
  return parseRunConfig(raw);
}

function numberOf(flag: string, text: string): number {
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n))
    throw new ConfigError(`--${flag}: expected a number, got ${JSON.stringify(text)}`);
  return n;
}
