import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePorts } from "@flowstore/cluster-messaging";
import { consecutiveFreePorts } from "@flowstore/cluster-messaging/testing";
import type { DeviceId } from "@flowstore/flow-bucket";
import { WebSocket } from "ws";
import { sleep } from "./cluster.js";

/**
 * The product as users run it: `flowstore-node` processes started from the workspace, driven
 * through REST and read through `/metrics`. Product scenarios measure these, not the library.
 */

const NODE_CLI = fileURLToPath(new URL("../../node/src/cli.ts", import.meta.url));
const NODE_DIR = path.dirname(path.dirname(NODE_CLI));

/** A running `flowstore-node` process and the REST ports of the nodes it runs. */
export interface NodeProcess {
  readonly pid: number;
  readonly restPorts: readonly number[];
  readonly child: ChildProcess;
  /** CPU time the process has used so far, in ms (user + system, from /proc). */
  cpuMs(): number;
  /** Resident memory, bytes. */
  rss(): number;
  /**
   * The live heap: collects garbage in the node (through its inspector, started with
   * `inspect: true`) and reads the heap in use, bytes.
   */
  liveHeap(): Promise<number>;
  /** SIGKILLs the process (by its PID) and waits for it to exit. */
  stop(): Promise<void>;
}

/** Options of {@link startLocalCluster}. */
export interface LocalClusterOptions {
  readonly nodes?: number;
  readonly devices?: number;
  /** The node's JSON configuration (`--config`), e.g. `{store: {replicateCounters: true}}`. */
  readonly config?: Record<string, unknown>;
  /** Extra Node.js flags (e.g. `--cpu-prof`). */
  readonly nodeFlags?: readonly string[];
  /** Open the node's inspector on a free loopback port, for {@link NodeProcess.liveHeap}. */
  readonly inspect?: boolean;
  readonly log?: (line: string) => void;
  /**
   * What to wait for before resolving: every node answering REST with a master for every
   * device (the default), or only the process started (a restart measured from outside).
   */
  readonly waitFor?: "every node" | "nothing";
}

/** Starts `flowstore-node --local N` as its own process, and waits until every node answers REST. */
export async function startLocalCluster(options: LocalClusterOptions = {}): Promise<NodeProcess> {
  const nodes = options.nodes ?? 3;
  const ports = await consecutiveFreePorts(nodes);
  const node = await startNodeProcess(
    ["--local", String(nodes), "--rest-port", String(ports[0])],
    ports,
    options,
  );
  options.log?.(`flowstore-node --local ${nodes} (pid ${node.pid}), REST on ${ports.join(", ")}`);
  return node;
}

/**
 * One `flowstore-node` process with `args` (plus `--devices`, `--log-level warn` and the
 * options' `--config`), once every REST port in `restPorts` answers — and, unless told not
 * to, every device has a master.
 */
async function startNodeProcess(
  args: readonly string[],
  restPorts: readonly number[],
  options: LocalClusterOptions & { readonly waitForMasters?: boolean },
): Promise<NodeProcess> {
  const dir = mkdtempSync(path.join(tmpdir(), "flowstore-bench-"));
  const configFile = path.join(dir, "node.json");
  writeFileSync(configFile, JSON.stringify(options.config ?? {}));
  const child = spawn(
    process.execPath,
    [
      // As `pnpm start` runs it (see apps/node's start script).
      "--max-semi-space-size=64",
      "--conditions=@flowstore/source",
      "--import",
      "tsx",
      ...(options.nodeFlags ?? []),
      ...(options.inspect ? ["--inspect=127.0.0.1:0"] : []),
      NODE_CLI,
      ...args,
      ...["--devices", String(options.devices ?? 2), "--log-level", "warn"],
      ...["--config", configFile],
    ],
    { cwd: NODE_DIR, stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  let inspector: string | undefined;
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
    inspector ??= /Debugger listening on (ws:\/\/\S+)/.exec(output)?.[1];
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const pid = child.pid;
  if (pid === undefined) throw new Error("flowstore-node did not start");
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const node: NodeProcess = {
    pid,
    restPorts,
    child,
    cpuMs: () => processCpuMs(pid),
    rss: () => processRss(pid),
    liveHeap: () => {
      if (inspector === undefined) throw new Error("start the node with inspect: true");
      return liveHeapOf(inspector);
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) process.kill(pid, "SIGKILL");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
  if (options.waitFor === "nothing") return node;
  const deadline = Date.now() + 60_000;
  try {
    for (const port of restPorts) {
      for (;;) {
        if (child.exitCode !== null) {
          throw new Error(`flowstore-node exited with ${child.exitCode}: ${output}`);
        }
        const ok = await get(port, "/onos/v1/cluster").then(
          (r) => r.status === 200,
          () => false,
        );
        if (ok) break;
        if (Date.now() > deadline) {
          throw new Error(`flowstore-node did not answer on port ${port} within 60 s: ${output}`);
        }
        await sleep(200);
      }
    }
    if (options.waitForMasters !== false) {
      await waitForMasters(restPorts[0]!, options.devices ?? 2, deadline);
    }
  } catch (error) {
    await node.stop();
    throw error;
  }
  return node;
}

/** Options of {@link startEtcdCluster}. */
export interface EtcdClusterOptions {
  readonly nodes?: number;
  readonly devices?: number;
  /** Every node's JSON configuration (`--config`). */
  readonly config?: Record<string, unknown>;
  /** Open each node's inspector, for {@link NodeProcess.liveHeap}. */
  readonly inspect?: boolean;
  /** Each node keeps its tables under `dataDir/<id>` (`--data-dir`). */
  readonly dataDir?: string;
  readonly log?: (line: string) => void;
}

/** A cluster of `flowstore-node` processes, one node each, coordinated by a real etcd. */
export interface EtcdCluster {
  /** The node processes now running (new ones after {@link restart}). */
  readonly processes: readonly NodeProcess[];
  /** The REST port of each node, in node order (n1, n2, …). */
  readonly restPorts: readonly number[];
  /**
   * SIGKILLs every node process at once, then starts each again with the same arguments
   * (the same data directories, the same etcd); resolves once they are started, without
   * waiting for them to answer.
   */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts etcd and `nodes` separate `flowstore-node` processes (`--id nI --etcd …`), and
 * waits until every node answers REST and every device has a master.
 */
export async function startEtcdCluster(options: EtcdClusterOptions = {}): Promise<EtcdCluster> {
  const { startEtcd } = await import("@flowstore/mastership/etcd-server");
  const count = options.nodes ?? 3;
  const etcd = await startEtcd();
  const ports = await freePorts(2 * count);
  const ids = Array.from({ length: count }, (_, i) => `n${i + 1}`);
  const restPorts = ports.slice(count);
  let processes: NodeProcess[] = [];
  const launch = (i: number, waitFor: "every node" | "nothing") => {
    const id = ids[i]!;
    const peers = ids
      .map((other, j) => (other === id ? undefined : `${other}=127.0.0.1:${ports[j]}`))
      .filter((peer) => peer !== undefined)
      .join(",");
    return startNodeProcess(
      [
        ...["--id", id, "--listen", `127.0.0.1:${ports[i]}`, "--peers", peers],
        ...["--etcd", etcd.endpoint, "--rest", `127.0.0.1:${restPorts[i]}`],
        ...(options.dataDir === undefined ? [] : ["--data-dir", path.join(options.dataDir, id)]),
      ],
      [restPorts[i]!],
      { ...options, waitForMasters: false, waitFor },
    );
  };
  const stopAll = async () => {
    await Promise.all(processes.map((node) => node.stop()));
  };
  try {
    for (let i = 0; i < count; i++) processes.push(await launch(i, "every node"));
    await waitForMasters(restPorts[0]!, options.devices ?? 2, Date.now() + 60_000);
    options.log?.(
      `${count} flowstore-node processes with etcd (pids ${processes.map((p) => p.pid).join(", ")}), REST on ${restPorts.join(", ")}`,
    );
    return {
      get processes() {
        return processes;
      },
      restPorts,
      async restart() {
        await stopAll();
        processes = [];
        for (let i = 0; i < count; i++) processes.push(await launch(i, "nothing"));
      },
      async stop() {
        await stopAll();
        await etcd.stop();
      },
    };
  } catch (error) {
    await stopAll();
    await etcd.stop();
    throw error;
  }
}

/** Every device of the node at `port` has a master (a write with none is refused). */
async function waitForMasters(port: number, devices: number, deadline: number): Promise<void> {
  for (let i = 1; i <= devices; i++) {
    const device = `of:${i.toString(16).padStart(16, "0")}`;
    for (;;) {
      const answer = await get(port, `/onos/v1/mastership/${device}/master`).catch(() => undefined);
      if (answer?.status === 200) break;
      if (Date.now() > deadline) throw new Error(`no master for ${device} within 60 s`);
      await sleep(100);
    }
  }
}

/** Through the inspector at `url`: a full garbage collection, then the heap in use. */
async function liveHeapOf(url: string): Promise<number> {
  const socket = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    socket.once("open", () => resolve());
    socket.once("error", reject);
  });
  let next = 0;
  const call = (method: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const id = ++next;
      const onMessage = (data: Buffer) => {
        const message = JSON.parse(data.toString()) as {
          id?: number;
          result?: Record<string, unknown>;
          error?: { message: string };
        };
        if (message.id !== id) return;
        socket.off("message", onMessage);
        if (message.error !== undefined) reject(new Error(message.error.message));
        else resolve(message.result ?? {});
      };
      socket.on("message", onMessage);
      socket.send(JSON.stringify({ id, method }));
    });
  try {
    await call("HeapProfiler.collectGarbage");
    const usage = await call("Runtime.getHeapUsage");
    return Number(usage.usedSize);
  } finally {
    socket.close();
  }
}

function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime and stime are fields 14 and 15 of /proc/PID/stat, in clock ticks (100 a second).
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function processRss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  return match === null ? 0 : Number(match[1]) * 1024;
}

/** An HTTP answer: status and body text. */
export interface HttpAnswer {
  readonly status: number;
  readonly body: string;
}

/** One HTTP request to 127.0.0.1:`port`. */
export function http(
  port: number,
  method: string,
  pathname: string,
  body?: string,
  timeoutMs = 120_000,
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        method,
        path: pathname,
        headers:
          body === undefined
            ? {}
            : { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
        );
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${method} ${pathname} timed out`)));
    req.on("error", reject);
    req.end(body);
  });
}

export const get = (port: number, pathname: string) => http(port, "GET", pathname);

/** The ONOS JSON of bench rule `i` of `device` (the shape `benchRule` builds). */
export function flowJson(device: DeviceId, i: number): Record<string, unknown> {
  return {
    deviceId: device,
    appId: 23,
    priority: 40000 + (i % 100),
    isPermanent: true,
    selector: {
      criteria: [
        { type: "IN_PORT", port: 1 + (i % 48) },
        { type: "ETH_TYPE", ethType: "0x800" },
        { type: "IPV4_DST", ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32` },
      ],
    },
    treatment: { instructions: [{ type: "OUTPUT", port: String(1 + ((i * 7) % 48)) }] },
  };
}

/** The body of `POST /onos/v1/flows` for flows `from` … `from + count − 1` of `device`. */
export function batchBody(device: DeviceId, from: number, count: number): string {
  const flows = Array.from({ length: count }, (_, i) => flowJson(device, from + i));
  return JSON.stringify({ flows });
}

/**
 * Posts `total` flows of `device` as REST batches of `batch`, from `clients` concurrent
 * clients, all through `port`. Resolves with the time the last one was acknowledged.
 */
export async function postFlows(
  port: number,
  device: DeviceId,
  total: number,
  options: {
    batch?: number;
    clients?: number;
    offset?: number;
    progress?: (n: number) => void;
  } = {},
): Promise<{ ackedAt: number; seconds: number }> {
  const batch = options.batch ?? 1000;
  const clients = options.clients ?? 2;
  const offset = options.offset ?? 0;
  let next = 0;
  let done = 0;
  const start = performance.now();
  const client = async () => {
    for (;;) {
      const from = next;
      if (from >= total) return;
      next += batch;
      const count = Math.min(batch, total - from);
      const body = batchBody(device, offset + from, count);
      for (let attempt = 1; ; attempt++) {
        const answer = await http(port, "POST", "/onos/v1/flows", body);
        if (answer.status >= 200 && answer.status < 300) break;
        if (answer.status === 503 && attempt < 100) {
          await sleep(100);
          continue;
        }
        throw new Error(`POST /onos/v1/flows: ${answer.status} ${answer.body.slice(0, 300)}`);
      }
      done += count;
      options.progress?.(done);
    }
  };
  await Promise.all(Array.from({ length: clients }, client));
  const ackedAt = performance.now();
  return { ackedAt, seconds: (ackedAt - start) / 1000 };
}

/** Prometheus text → `name{labels}` → value (labels as printed). */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    out.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return out;
}

/** The sum of every sample of metric `name` whose labels contain every `match` text. */
export function sumMetric(metrics: Map<string, number>, name: string, ...match: string[]): number {
  let sum = 0;
  for (const [key, value] of metrics) {
    const brace = key.indexOf("{");
    const metric = brace < 0 ? key : key.slice(0, brace);
    if (metric !== name) continue;
    if (match.every((m) => key.includes(m))) sum += value;
  }
  return sum;
}

/** Every node's `/metrics`, parsed. */
export async function scrape(node: {
  readonly restPorts: readonly number[];
}): Promise<Map<string, number>[]> {
  return Promise.all(
    node.restPorts.map(async (port) => parseMetrics((await get(port, "/metrics")).body)),
  );
}

/**
 * Waits until no node owes its backups anything (`flowstore_backup_lag_buckets` is 0
 * everywhere) for `quietMs`, at most 60 s: so one measurement does not pay for the
 * replication of the one before it.
 */
export async function waitForBackups(ports: readonly number[], quietMs = 1_000): Promise<void> {
  const deadline = performance.now() + 60_000;
  let since = performance.now();
  while (performance.now() - since < quietMs && performance.now() < deadline) {
    const lag = (await scrape({ restPorts: ports })).reduce(
      (sum, metrics) => sum + sumMetric(metrics, "flowstore_backup_lag_buckets"),
      0,
    );
    if (lag > 0) since = performance.now();
    await sleep(200);
  }
}

/**
 * The machine's ceiling for a REST ingest: a bare `node:http` server in its own process that
 * reads each body and `JSON.parse`s it, and answers 200 — what any Node.js server must do
 * with the same requests before it does anything of its own.
 */
export async function startBareServer(): Promise<{ port: number; stop(): Promise<void> }> {
  const [port] = await freePorts(1);
  const script = `
    const http = require("node:http");
    http.createServer((req, res) => {
      const chunks = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => {
        const body = JSON.parse(Buffer.concat(chunks).toString());
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ ok: body !== null }));
      });
    }).listen(${port}, "127.0.0.1");`;
  const child = spawn(process.execPath, ["-e", script], { stdio: "ignore" });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  for (let i = 0; ; i++) {
    const up = await http(port!, "POST", "/", "{}").then(
      () => true,
      () => false,
    );
    if (up) break;
    if (i > 100) throw new Error("the bare HTTP server did not start");
    await sleep(50);
  }
  return {
    port: port!,
    async stop() {
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, "SIGKILL");
      await exited;
    },
  };
}

/**
 * Single-flow `POST /onos/v1/flows/{deviceId}` from `clients` concurrent clients for `seconds`:
 * requests per second and the latency of each, in ms.
 */
export async function postSingles(
  port: number | readonly number[],
  device: DeviceId,
  options: { clients: number; seconds: number; offset: number; path?: string },
): Promise<{ perSecond: number; latencies: number[]; count: number; refused: number }> {
  const latencies: number[] = [];
  let refused = 0;
  let next = options.offset;
  const end = performance.now() + options.seconds * 1000;
  const start = performance.now();
  const route = options.path ?? `/onos/v1/flows/${device}`;
  const ports = typeof port === "number" ? [port] : port;
  const client = async (_: unknown, i: number) => {
    // Clients spread over the ports given, one port each.
    const port = ports[i % ports.length]!;
    while (performance.now() < end) {
      const body = JSON.stringify(flowJson(device, next++));
      const sent = performance.now();
      const answer = await http(port, "POST", route, body);
      if (answer.status === 503) {
        refused++;
        await sleep(10);
        continue;
      }
      if (answer.status >= 300) throw new Error(`POST ${route}: ${answer.status} ${answer.body}`);
      latencies.push(performance.now() - sent);
    }
  };
  await Promise.all(Array.from({ length: options.clients }, client));
  const seconds = (performance.now() - start) / 1000;
  return { perSecond: latencies.length / seconds, latencies, count: latencies.length, refused };
}

/**
 * {@link masterAndOther} once the device's master has stayed the same for `quietMs` (a node
 * that joined late takes devices back a few seconds after it is up): what a measurement
 * "through the master" needs.
 */
export async function settledMasterAndOther(
  ports: readonly number[],
  device: string,
  quietMs = 3_000,
): Promise<{ master: number; other: number }> {
  const deadline = performance.now() + 30_000;
  let roles = await masterAndOther(ports, device);
  let since = performance.now();
  while (performance.now() - since < quietMs) {
    if (performance.now() > deadline) throw new Error(`the master of ${device} kept moving`);
    await sleep(250);
    const now = await masterAndOther(ports, device);
    if (now.master !== roles.master) {
      roles = now;
      since = performance.now();
    }
  }
  return roles;
}

/** The REST port of `device`'s master among a `--local` process's `ports`, and another node's. */
export async function masterAndOther(
  ports: readonly number[],
  device: string,
): Promise<{ master: number; other: number }> {
  const answer = await get(ports[0]!, `/onos/v1/mastership/${device}/master`);
  const { nodeId } = JSON.parse(answer.body) as { nodeId: string };
  const master = ports[Number(nodeId.replace(/^n/, "")) - 1];
  const other = ports.find((p) => p !== master);
  if (master === undefined || other === undefined) throw new Error(`no port for ${nodeId}`);
  return { master, other };
}
