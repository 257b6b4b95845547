// A fault run: real `flowstore-node` processes with a real etcd, a seeded nemesis, writers
// and a deleter on the REST API, and a checker of the acknowledgement history. Used by the
// short CI test (fault.integration.test.ts) and the long `failover-faults` bench scenario.
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createRandom, freePorts, type Random } from "@flowstore/cluster-messaging";
import { type EtcdServer, startEtcd } from "@flowstore/mastership/etcd-server";

const BIN = fileURLToPath(new URL("../bin/flowstore-node.js", import.meta.url));

/**
 * What the nemesis does: to one node (kill -9, SIGSTOP, SIGTERM, a burst of writes then
 * kill -9), `rolling`: SIGTERM and restart of every node in turn (a rolling restart), or
 * `killAll`: kill -9 of every node at once, then all started again (with `dataDir`: a full
 * restart from disk; without, every flow is gone and the run reports it).
 */
export type FaultKind = "kill" | "stall" | "term" | "burstKill" | "rolling" | "killAll";

/** The default of {@link FaultRunOptions.diskWindowMs}, ms. */
export const DISK_WINDOW_MS = 300;

/** Options of {@link runFaults}. */
export interface FaultRunOptions {
  readonly seed: number;
  /** How long the nemesis runs, ms. */
  readonly durationMs: number;
  /**
   * Which faults it takes in turn (default kill, stall, term, burstKill); `[]`: a run under
   * load without faults.
   */
  readonly faults?: readonly FaultKind[];
  readonly nodes?: number;
  readonly devices?: number;
  /** etcd lease TTL, s (default 2). */
  readonly leaseTtl?: number;
  /** Pause between faults, ms (default 2000–5000). */
  readonly gapMs?: readonly [number, number];
  /** How long a SIGSTOP lasts, ms (default 5000–25000). */
  readonly stallMs?: readonly [number, number];
  /** How long a killed node stays down before it restarts, ms (default 500–2000). */
  readonly downMs?: readonly [number, number];
  /** Concurrent writers (default 3) and flows per REST batch (default 5). */
  readonly writers?: number;
  readonly batch?: number;
  /** A lost write acknowledged this long before a kill -9 of its master is "asynchronous window" (default 100 ms). */
  readonly asyncWindowMs?: number;
  /**
   * A write acknowledged this long before a `killAll` is in its window (default 300 ms): the
   * disks hold what was acknowledged at least a commit interval (100 ms) before, once that
   * commit is written.
   */
  readonly diskWindowMs?: number;
  /** Extra node flags, e.g. `["--sync-timeout", "500"]`. */
  readonly nodeArgs?: readonly string[];
  /**
   * The nodes' `--replication` (default async). With `sync` there is no asynchronous window:
   * every acknowledged add must survive any fault.
   */
  readonly replication?: "async" | "sync";
  /**
   * A directory to keep every node's whole output in (`<id>.log`, appended across restarts,
   * each line as the node wrote it), for placing a failure; by default only the last 20,000
   * characters are kept, for an error message.
   */
  readonly logDir?: string;
  /**
   * A directory under which each node keeps its flows on disk (`--data-dir <dataDir>/<id>`):
   * every restart then loads what the node had, and a stale copy must not undo newer writes
   * or bring deleted flows back.
   */
  readonly dataDir?: string;
  /** The nodes' `--log-level` (default warn). */
  readonly logLevel?: string;
  readonly log?: (line: string) => void;
}

/** One fault the nemesis injected. */
export interface FaultEvent {
  readonly kind: FaultKind;
  /** The node struck (`every node` for a `killAll`). */
  readonly node: string;
  /** When it struck (ms since the run started). */
  readonly at: number;
  /** How long the node was stopped / down, ms. */
  readonly forMs: number;
  /** The devices the node mastered when it struck. */
  readonly mastered: readonly string[];
  /** Per mastered device: strike → a write to it accepted through another node, ms. */
  readonly writesAgainMs: readonly number[];
  /** Per mastered device: strike → another node named its master (as a live node sees it), ms. */
  readonly masterMovedMs: readonly number[];
}

/** What happened to one flow, for the report of a failure. */
export interface FlowTimeline {
  readonly flowId: string;
  readonly deviceId: string;
  readonly events: readonly string[];
}

/** The result of a run. */
export interface FaultReport {
  readonly seed: number;
  readonly faults: readonly FaultEvent[];
  readonly acknowledgedAdds: number;
  readonly acknowledgedDeletes: number;
  readonly failedRequests: number;
  readonly requests: number;
  /** Acknowledged adds, never deleted, missing at the end — outside the asynchronous window. */
  readonly lost: readonly FlowTimeline[];
  /**
   * Lost adds acknowledged within `asyncWindowMs` before a kill -9 or a SIGSTOP of their
   * master (a stopped master is a crashed one as far as the others can tell).
   */
  readonly asyncWindowLost: readonly FlowTimeline[];
  /** Acknowledged deletes whose flow is listed at the end — outside the asynchronous window. */
  readonly resurrected: readonly FlowTimeline[];
  /**
   * Deletes acknowledged within `asyncWindowMs` before a kill -9 or a SIGSTOP of their
   * master whose flow is listed at the end: a delete is a write, with the same window.
   */
  readonly asyncWindowResurrected: readonly FlowTimeline[];
  /** Flows some nodes list and others do not, at the end. */
  readonly divergent: readonly FlowTimeline[];
  /** Distinct terms per device seen by sampling (every 100 ms). */
  readonly termsPerDevice: ReadonlyMap<string, number>;
  /** `node inactive` convictions logged by the nodes. */
  readonly convictions: number;
  /** Text of the report, line by line. */
  readonly lines: readonly string[];
}

interface NodeProc {
  readonly id: string;
  readonly cluster: number;
  readonly rest: number;
  child: ChildProcess | undefined;
  /** Stopped by SIGSTOP right now. */
  stopped: boolean;
  /** Its REST API answered since it was (re)started. */
  ready: boolean;
  output: string;
  convictions: number;
}

/** What the clients saw happen to one flow (times in ms since the run started). */
export interface FlowRecord {
  readonly flowId: string;
  readonly deviceId: string;
  addAckAt?: number;
  addVia?: string;
  deleteSentAt?: number;
  deleteAckAt?: number;
  deleteVia?: string;
  /** A delete was sent and not acknowledged: the flow may or may not exist. */
  deleteUncertain?: boolean;
}

const device = (n: number): string => `of:${n.toString(16).padStart(16, "0")}`;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const between = (random: Random, [lo, hi]: readonly [number, number]) =>
  Math.round(lo + random() * (hi - lo));
const pick = <T>(random: Random, items: readonly T[]): T => {
  const item = items[Math.floor(random() * items.length)];
  if (item === undefined) throw new Error("pick from an empty list");
  return item;
};

/** The ONOS JSON of flow `i` of `deviceId`: unique per `i`. */
function flowJson(deviceId: string, i: number): Record<string, unknown> {
  return {
    deviceId,
    priority: 30000 + (i % 1000),
    isPermanent: true,
    selector: {
      criteria: [
        { type: "ETH_TYPE", ethType: "0x800" },
        { type: "IPV4_DST", ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32` },
      ],
    },
    treatment: { instructions: [{ type: "OUTPUT", port: String(1 + (i % 48)) }] },
  };
}

async function rest(
  port: number,
  method: string,
  route: string,
  body?: unknown,
  timeoutMs = 5000,
): Promise<{ status: number; json: unknown }> {
  const response = await fetch(`http://127.0.0.1:${port}${route}`, {
    method,
    signal: AbortSignal.timeout(timeoutMs),
    ...(body === undefined
      ? {}
      : { body: JSON.stringify(body), headers: { "content-type": "application/json" } }),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = text === "" ? undefined : JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: response.status, json };
}

/** `120, 95 ms` — "never" for a device whose master never moved. */
const list = (values: readonly number[]): string =>
  values.length === 0
    ? "(no device)"
    : `${values.map((ms) => (Number.isFinite(ms) ? ms.toFixed(0) : "never")).join(", ")} ms`;

const median = (values: readonly number[]): number => {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] as number;
};

/** Median and max of `values`, for the report. */
export function spread(values: readonly number[]): { median: number; max: number; n: number } {
  const finite = values.filter(Number.isFinite);
  return {
    median: median(finite),
    max: finite.length === 0 ? Number.NaN : Math.max(...finite),
    n: finite.length,
  };
}

/**
 * Runs the cluster under the nemesis for `durationMs`, then lets it settle and checks the
 * history: every acknowledged add present unless deleted later, every acknowledged delete
 * absent, every node listing the same flows.
 */
export async function runFaults(options: FaultRunOptions): Promise<FaultReport> {
  const random = createRandom(options.seed);
  const log = options.log ?? (() => undefined);
  const nodeCount = options.nodes ?? 3;
  const devices = Array.from({ length: options.devices ?? 4 }, (_, i) => device(i + 1));
  const faultKinds = options.faults ?? ["kill", "stall", "term", "burstKill"];
  const sync = options.replication === "sync";
  const asyncWindowMs = sync ? -1 : (options.asyncWindowMs ?? 100);
  const t0 = Date.now();
  const now = () => Date.now() - t0;

  const etcd: EtcdServer = await startEtcd();
  const ports = await freePorts(nodeCount * 2);
  const nodes: NodeProc[] = Array.from({ length: nodeCount }, (_, i) => ({
    id: `n${i + 1}`,
    cluster: ports[i] as number,
    rest: ports[nodeCount + i] as number,
    child: undefined,
    stopped: false,
    ready: false,
    output: "",
    convictions: 0,
  }));
  const flows = new Map<string, FlowRecord>();
  const faults: FaultEvent[] = [];
  const terms = new Map<string, Set<number>>(devices.map((d) => [d, new Set()]));
  let requests = 0;
  let failedRequests = 0;
  let nextFlow = 1;
  let running = true;

  const up = (node: NodeProc) => node.child !== undefined && node.ready && !node.stopped;

  const launch = (node: NodeProc) => {
    const peers = nodes
      .filter((other) => other !== node)
      .map((other) => `${other.id}=127.0.0.1:${other.cluster}`)
      .join(",");
    const child = spawn(
      process.execPath,
      [
        BIN,
        ...["--id", node.id, "--listen", `127.0.0.1:${node.cluster}`, "--peers", peers],
        ...["--etcd", etcd.endpoint, "--lease-ttl", String(options.leaseTtl ?? 2)],
        ...["--rest", `127.0.0.1:${node.rest}`, "--devices", String(devices.length)],
        ...[
          "--log-level",
          options.logLevel ?? "warn",
          "--backup-period",
          "500",
          "--stats-period",
          "1000",
        ],
        ...(sync ? ["--replication", "sync"] : []),
        ...(options.dataDir === undefined ? [] : ["--data-dir", join(options.dataDir, node.id)]),
        ...(options.nodeArgs ?? []),
      ],
      { cwd: tmpdir(), stdio: ["ignore", "pipe", "pipe"] },
    );
    node.child = child;
    node.stopped = false;
    node.ready = false;
    const file =
      options.logDir === undefined
        ? undefined
        : createWriteStream(join(options.logDir, `${node.id}.log`), { flags: "a" });
    const keep = (chunk: Buffer) => {
      file?.write(chunk);
      const text = chunk.toString();
      node.convictions += text.split('"node inactive"').length - 1;
      node.output = (node.output + text).slice(-20_000);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    // "close": after the last output, which may come after "exit".
    child.once("close", () => file?.end());
    child.once("exit", () => {
      if (node.child === child) {
        node.child = undefined;
        node.ready = false;
      }
    });
  };

  const waitUp = async (node: NodeProc, ms = 60_000) => {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      try {
        if ((await rest(node.rest, "GET", "/onos/v1/cluster", undefined, 1000)).status === 200) {
          node.ready = true;
          return;
        }
      } catch {
        // not yet
      }
      await sleep(100);
    }
    throw new Error(
      `${node.id} did not answer REST within ${ms} ms; its last output:\n${node.output.slice(-4000)}`,
    );
  };

  const killNode = async (node: NodeProc, signal: NodeJS.Signals) => {
    const child = node.child;
    if (child?.pid === undefined) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    if (node.stopped) process.kill(child.pid, "SIGCONT");
    process.kill(child.pid, signal);
    await exited;
    node.stopped = false;
  };

  const masterOf = async (deviceId: string): Promise<{ term: number; master: string | null }> => {
    const via = nodes.filter(up);
    const { json } = await rest(pick(random, via).rest, "GET", `/onos/v1/mastership/${deviceId}`);
    return json as { term: number; master: string | null };
  };

  /** Posts `deviceIds.length` flows (one per entry) through `via`; records acknowledgements. */
  const post = async (via: NodeProc, deviceIds: readonly string[]): Promise<boolean> => {
    const batch = deviceIds.map((d) => ({ d, i: nextFlow++ }));
    requests++;
    try {
      const answer = await rest(via.rest, "POST", "/onos/v1/flows", {
        flows: batch.map(({ d, i }) => flowJson(d, i)),
      });
      if (answer.status !== 200) {
        failedRequests++;
        return false;
      }
      const at = now();
      const refs = (answer.json as { flows: { deviceId: string; flowId: string }[] }).flows;
      for (const ref of refs) {
        flows.set(ref.flowId, {
          flowId: ref.flowId,
          deviceId: ref.deviceId,
          addAckAt: at,
          addVia: via.id,
        });
      }
      return true;
    } catch {
      failedRequests++;
      return false;
    }
  };

  const writer = async () => {
    const batch = options.batch ?? 5;
    while (running) {
      const live = nodes.filter((n) => n.child !== undefined && n.ready);
      if (live.length > 0) {
        const ids = Array.from({ length: batch }, () => pick(random, devices));
        await post(pick(random, live), ids);
      }
      await sleep(20);
    }
  };

  const deleter = async () => {
    while (running) {
      await sleep(60);
      const live = nodes.filter((n) => n.child !== undefined && n.ready);
      const candidates = [...flows.values()].filter((f) => f.deleteSentAt === undefined);
      if (live.length === 0 || candidates.length < 20) continue;
      const flow = pick(random, candidates);
      const via = pick(random, live);
      flow.deleteSentAt = now();
      requests++;
      try {
        const answer = await rest(
          via.rest,
          "DELETE",
          `/onos/v1/flows/${flow.deviceId}/${flow.flowId}`,
        );
        if (answer.status === 204) {
          flow.deleteAckAt = now();
          flow.deleteVia = via.id;
        } else {
          flow.deleteUncertain = true;
          failedRequests++;
        }
      } catch {
        flow.deleteUncertain = true;
        failedRequests++;
      }
    }
  };

  const termSampler = async () => {
    while (running) {
      await Promise.all(
        devices.map(async (d) => {
          try {
            const info = await masterOf(d);
            if (info.master !== null) terms.get(d)?.add(info.term);
          } catch {
            // a node went away between the pick and the request
          }
        }),
      );
      await sleep(100);
    }
  };

  /**
   * From `start`: how long until a one-flow write to `deviceId` is accepted through another
   * node. A probe goes out every 25 ms without waiting for the earlier ones (a request stuck
   * on a stopped master must not hide that a new one would succeed); the first success
   * counts.
   */
  const writesAgain = async (deviceId: string, victim: NodeProc, start: number) => {
    const deadline = Date.now() + 60_000;
    let accepted: number | undefined;
    const inFlight = new Set<Promise<void>>();
    while (accepted === undefined && Date.now() < deadline) {
      const others = nodes.filter((n) => n !== victim && up(n));
      if (others.length > 0 && inFlight.size < 200) {
        const probe = post(pick(random, others), [deviceId]).then((ok) => {
          if (ok) accepted ??= now() - start;
        });
        inFlight.add(probe);
        void probe.finally(() => inFlight.delete(probe));
      }
      await sleep(25);
    }
    await Promise.all(inFlight);
    return accepted ?? Number.POSITIVE_INFINITY;
  };

  /** From `start`: how long until a live node names another master of `deviceId`. */
  const masterMoved = async (
    deviceId: string,
    victim: NodeProc,
    start: number,
    over: () => boolean,
  ) => {
    const deadline = Date.now() + 60_000;
    // Once the fault is over and writes go through, a device that never moved never will.
    while (Date.now() < deadline && !over()) {
      const others = nodes.filter((n) => n !== victim && up(n));
      try {
        if (others.length > 0) {
          const { json } = await rest(
            pick(random, others).rest,
            "GET",
            `/onos/v1/mastership/${deviceId}`,
            undefined,
            1000,
          );
          const master = (json as { master: string | null }).master;
          if (master !== null && master !== victim.id) return now() - start;
        }
      } catch {
        // that node is going down too
      }
      await sleep(25);
    }
    return Number.POSITIVE_INFINITY;
  };

  const mastered = async (node: NodeProc): Promise<string[]> => {
    try {
      const { json } = await rest(
        node.rest,
        "GET",
        `/onos/v1/mastership/${node.id}/device`,
        undefined,
        1000,
      );
      const ids = (json as { deviceIds?: string[]; devices?: string[] } | undefined) ?? {};
      return ids.deviceIds ?? ids.devices ?? [];
    } catch {
      return [];
    }
  };

  const nemesis = async () => {
    const end = Date.now() + options.durationMs;
    let turn = 0;
    const firstKind = Math.floor(random() * faultKinds.length);
    while (Date.now() < end && faultKinds.length > 0) {
      await sleep(between(random, options.gapMs ?? [2000, 5000]));
      if (Date.now() >= end) break;
      // Each kind in turn, from a seeded start: a short run still sees every kind.
      const kind = faultKinds[(turn++ + firstKind) % faultKinds.length] as FaultKind;
      const victim = pick(random, nodes);
      if (victim.child === undefined) continue;
      const devicesOf = await mastered(victim);
      let at = now();
      let forMs = 0;
      let again: Promise<[number[], number[]]> = Promise.resolve([[], []]);
      let faultOver = false;
      let writesBack = 0;
      const measure = () =>
        Promise.all([
          Promise.all(
            devicesOf.map((d) =>
              writesAgain(d, victim, at).finally(() => {
                writesBack++;
              }),
            ),
          ),
          Promise.all(
            devicesOf.map((d) =>
              masterMoved(d, victim, at, () => faultOver && writesBack === devicesOf.length),
            ),
          ),
        ]);
      switch (kind) {
        case "kill":
        case "burstKill": {
          if (kind === "burstKill") {
            const burst = Array.from({ length: 10 }, () =>
              post(
                victim,
                Array.from({ length: 5 }, () => pick(random, devices)),
              ),
            );
            await sleep(30);
            void Promise.all(burst);
            // The fault is the kill: its windows and delays count from when it strikes, after
            // the burst (an add the master stored just before it, answered through another
            // node, was otherwise acknowledged "after" the fault).
            at = now();
          }
          await killNode(victim, "SIGKILL");
          again = measure();
          forMs = between(random, options.downMs ?? [500, 2000]);
          await sleep(forMs);
          launch(victim);
          await waitUp(victim);
          faultOver = true;
          break;
        }
        case "stall": {
          const pid = victim.child.pid as number;
          process.kill(pid, "SIGSTOP");
          victim.stopped = true;
          again = measure();
          forMs = between(random, options.stallMs ?? [5000, 25_000]);
          await sleep(forMs);
          if (victim.child?.pid === pid) process.kill(pid, "SIGCONT");
          victim.stopped = false;
          faultOver = true;
          break;
        }
        case "rolling": {
          // Every node in turn, each back and answering before the next goes; the victim's
          // devices are measured for its own stop only.
          again = measure();
          for (const node of [victim, ...nodes.filter((n) => n !== victim)]) {
            // Each step in the log, with what the node mastered: a loss near a later step is
            // placed by these lines (the fault's own line names the first node only).
            const step = await mastered(node);
            log(
              `${(now() / 1000).toFixed(1)} s: rolling: SIGTERM ${node.id} (mastered ${step.join(" ") || "nothing"})`,
            );
            await killNode(node, "SIGTERM");
            launch(node);
            await waitUp(node);
            log(`${(now() / 1000).toFixed(1)} s: rolling: ${node.id} back`);
            if (node === victim) faultOver = true;
          }
          break;
        }
        case "killAll": {
          await Promise.all(nodes.map((node) => killNode(node, "SIGKILL")));
          forMs = between(random, options.downMs ?? [500, 2000]);
          await sleep(forMs);
          for (const node of nodes) launch(node);
          for (const node of nodes) await waitUp(node);
          log(`${(now() / 1000).toFixed(1)} s: killAll: every node answers again`);
          faultOver = true;
          break;
        }
        case "term": {
          again = measure();
          await killNode(victim, "SIGTERM");
          forMs = between(random, options.downMs ?? [500, 2000]);
          await sleep(forMs);
          launch(victim);
          await waitUp(victim);
          faultOver = true;
          break;
        }
        default: {
          const unexpected: never = kind;
          throw new Error(`unknown fault ${String(unexpected)}`);
        }
      }
      const [writesAgainMs, masterMovedMs] = await again;
      const event = {
        kind,
        node: kind === "killAll" ? "every node" : victim.id,
        at,
        forMs,
        mastered: kind === "killAll" ? [...devices] : devicesOf,
        writesAgainMs,
        masterMovedMs,
      };
      faults.push(event);
      log(
        kind === "killAll"
          ? `${(at / 1000).toFixed(1)} s: killAll: kill -9 of every node, down ${forMs} ms, then all started again`
          : `${(at / 1000).toFixed(1)} s: ${kind} ${victim.id} (${forMs} ms; mastered ${devicesOf.length}) → another master after ${list(masterMovedMs)}, writes again after ${list(writesAgainMs)}`,
      );
    }
  };

  try {
    for (const node of nodes) launch(node);
    for (const node of nodes) await waitUp(node);
    // Every device has a master before the first write.
    for (const d of devices) {
      const deadline = Date.now() + 30_000;
      while ((await masterOf(d)).master === null) {
        if (Date.now() > deadline) throw new Error(`no master for ${d}`);
        await sleep(100);
      }
    }
    log(
      `seed ${options.seed}: ${nodeCount} nodes, ${devices.length} devices, etcd ${etcd.endpoint}`,
    );
    const workers = [
      ...Array.from({ length: options.writers ?? 3 }, () => writer()),
      deleter(),
      termSampler(),
    ];
    await nemesis();
    if (faultKinds.length === 0) await sleep(options.durationMs);
    running = false;
    await Promise.all(workers);
    // Every node back and running, then let replication and anti-entropy settle.
    for (const node of nodes) {
      if (node.stopped && node.child?.pid !== undefined) process.kill(node.child.pid, "SIGCONT");
      node.stopped = false;
      if (node.child === undefined) launch(node);
    }
    for (const node of nodes) await waitUp(node);
    const listings = await settle(nodes, log);
    return checkHistory({
      seed: options.seed,
      flows,
      faults,
      listings,
      terms,
      asyncWindowMs,
      diskWindowMs: options.diskWindowMs ?? DISK_WINDOW_MS,
      requests,
      failedRequests,
      convictions: nodes.reduce((sum, n) => sum + n.convictions, 0),
    });
  } finally {
    running = false;
    for (const node of nodes) {
      if (node.child !== undefined) await killNode(node, "SIGKILL").catch(() => undefined);
    }
    await etcd.stop();
  }
}

/** One node's flows at the end: flow id → device and state. */
export type Listing = Map<string, { deviceId: string; state: string }>;

/**
 * Polls every node's flows until they agree and nothing is pending, at most 90 s; then
 * judges the last complete listing. Fails when no complete listing could be read at all.
 */
async function settle(nodes: readonly NodeProc[], log: (line: string) => void): Promise<Listing[]> {
  const deadline = Date.now() + 90_000;
  let listings: Listing[] | undefined;
  let lastError: unknown;
  for (;;) {
    try {
      const read = await Promise.all(
        nodes.map(async (node) => {
          const { status, json } = await rest(
            node.rest,
            "GET",
            "/onos/v1/flows",
            undefined,
            60_000,
          );
          if (status !== 200) throw new Error(`${node.id}: ${status}`);
          const listing: Listing = new Map();
          for (const f of (json as { flows: { id: string; deviceId: string; state: string }[] })
            .flows)
            listing.set(f.id, { deviceId: f.deviceId, state: f.state });
          return listing;
        }),
      );
      listings = read;
      const keys = read.map((l) => [...l.keys()].sort().join());
      const pending = read.some((l) => [...l.values()].some((f) => f.state.startsWith("PENDING")));
      if (keys.every((k) => k === keys[0]) && !pending) return read;
    } catch (error) {
      lastError = error; // a node is still syncing
    }
    if (Date.now() > deadline) {
      if (listings === undefined)
        throw new Error(`could not read every node's flows within 90 s: ${String(lastError)}`);
      log("the nodes did not converge within 90 s; judging what they list now");
      return listings;
    }
    await sleep(1000);
  }
}

/** What {@link checkHistory} judges. */
export interface History {
  readonly seed: number;
  readonly flows: ReadonlyMap<string, FlowRecord>;
  readonly faults: readonly FaultEvent[];
  /** Every node's flows at the end, in node order (n1, n2, …). */
  readonly listings: readonly Listing[];
  readonly terms: ReadonlyMap<string, ReadonlySet<number>>;
  readonly asyncWindowMs: number;
  /** The window of a `killAll`: see {@link FaultRunOptions.diskWindowMs}. */
  readonly diskWindowMs?: number;
  readonly requests: number;
  readonly failedRequests: number;
  readonly convictions: number;
}

/**
 * The history check: an acknowledged add never deleted must be listed (else it is lost —
 * in the asynchronous window when acknowledged at most `asyncWindowMs` before a kill -9 or
 * SIGSTOP of its device's master, or `diskWindowMs` before a kill -9 of every node); an
 * acknowledged delete must not be listed (the same windows for deletes); every node
 * must list the same flows. Adds and deletes that were not acknowledged prove nothing.
 */
export function checkHistory(input: History): FaultReport {
  const { flows, faults, listings, asyncWindowMs } = input;
  const diskWindowMs = input.diskWindowMs ?? DISK_WINDOW_MS;
  const listedAnywhere = (id: string) => listings.some((l) => l.has(id));
  const timeline = (flow: FlowRecord): FlowTimeline => {
    // In time order, the faults that struck the flow's device (its master, or every node)
    // told from the others.
    const timed: [number, string][] = [];
    if (flow.addAckAt !== undefined)
      timed.push([flow.addAckAt, `${flow.addAckAt} ms: add acknowledged by ${flow.addVia}`]);
    if (flow.deleteSentAt !== undefined)
      timed.push([flow.deleteSentAt, `${flow.deleteSentAt} ms: delete sent`]);
    if (flow.deleteAckAt !== undefined)
      timed.push([
        flow.deleteAckAt,
        `${flow.deleteAckAt} ms: delete acknowledged by ${flow.deleteVia}`,
      ]);
    for (const fault of faults) {
      const t = flow.addAckAt ?? 0;
      if (fault.at < t - 30_000 || fault.at > (flow.deleteAckAt ?? t) + 30_000) continue;
      const ofDevice = fault.kind === "killAll" || fault.mastered.includes(flow.deviceId);
      timed.push([
        fault.at,
        `${fault.at} ms: ${fault.kind} ${fault.node} (mastered ${fault.mastered.join(" ") || "none"})${ofDevice ? " <- its device" : ""}`,
      ]);
    }
    const events = timed.sort((a, b) => a[0] - b[0]).map(([, text]) => text);
    if (flow.deleteUncertain === true) events.push("delete failed (uncertain)");
    events.push(
      `at the end: listed by ${
        listings
          .map((l, i) => (l.has(flow.flowId) ? `n${i + 1}` : ""))
          .filter(Boolean)
          .join(" ") || "nobody"
      }`,
    );
    return { flowId: flow.flowId, deviceId: flow.deviceId, events };
  };
  const lost: FlowTimeline[] = [];
  const asyncWindowLost: FlowTimeline[] = [];
  const resurrected: FlowTimeline[] = [];
  const asyncWindowResurrected: FlowTimeline[] = [];
  const divergent: FlowTimeline[] = [];
  /** Whether a write of `flow` acknowledged at `ack` is in the asynchronous window of a fault. */
  const inWindow = (flow: FlowRecord, ack: number) =>
    faults.some((f) =>
      f.kind === "killAll"
        ? ack >= f.at - diskWindowMs && ack <= f.at + 50
        : asyncWindowMs >= 0 &&
          f.kind !== "term" &&
          f.mastered.includes(flow.deviceId) &&
          ack >= f.at - asyncWindowMs &&
          ack <= f.at + 50,
    );
  let acknowledgedAdds = 0;
  let acknowledgedDeletes = 0;
  for (const flow of flows.values()) {
    if (flow.addAckAt !== undefined) acknowledgedAdds++;
    if (flow.deleteAckAt !== undefined) acknowledgedDeletes++;
    const listed = listedAnywhere(flow.flowId);
    if (flow.deleteAckAt !== undefined) {
      if (listed) {
        (inWindow(flow, flow.deleteAckAt) ? asyncWindowResurrected : resurrected).push(
          timeline(flow),
        );
      }
    } else if (flow.deleteSentAt === undefined && flow.addAckAt !== undefined && !listed) {
      (inWindow(flow, flow.addAckAt) ? asyncWindowLost : lost).push(timeline(flow));
    }
  }
  const all = new Set(listings.flatMap((l) => [...l.keys()]));
  for (const id of all) {
    if (listings.every((l) => l.has(id))) continue;
    const known = flows.get(id);
    const deviceId = listings.find((l) => l.has(id))?.get(id)?.deviceId ?? "?";
    divergent.push(
      known === undefined
        ? {
            flowId: id,
            deviceId,
            events: [
              `listed by ${listings
                .map((l, i) => (l.has(id) ? `n${i + 1}` : ""))
                .filter(Boolean)
                .join(" ")}`,
            ],
          }
        : timeline(known),
    );
  }
  const termsPerDevice = new Map([...input.terms].map(([d, set]) => [d, set.size]));
  const kills = faults.filter((f) => f.kind === "kill" || f.kind === "burstKill");
  const stalls = faults.filter((f) => f.kind === "stall");
  const terms = faults.filter((f) => f.kind === "term");
  const killAlls = faults.filter((f) => f.kind === "killAll").length;
  const everyNode =
    killAlls === 0
      ? ""
      : asyncWindowMs < 0
        ? `; ≤ ${diskWindowMs} ms before a kill -9 of every node: ${asyncWindowLost.length} lost, ${asyncWindowResurrected.length} deletes undone`
        : ` (the window also: ≤ ${diskWindowMs} ms before a kill -9 of every node)`;
  const fmt = (s: { median: number; max: number; n: number }) =>
    s.n === 0 ? "none" : `median ${s.median.toFixed(0)} ms, max ${s.max.toFixed(0)} ms (n=${s.n})`;
  const totalTerms = [...termsPerDevice.values()].reduce((a, b) => a + b, 0);
  const lines = [
    `seed ${input.seed}: ${faults.length} faults (${kills.length} kill -9, ${stalls.length} SIGSTOP, ${terms.length} SIGTERM${killAlls === 0 ? "" : `, ${killAlls} kill -9 of every node`}), ${input.requests} requests (${input.failedRequests} failed), ${acknowledgedAdds} acknowledged adds, ${acknowledgedDeletes} acknowledged deletes`,
    asyncWindowMs < 0
      ? `lost (sync replication: no asynchronous window): ${lost.length}; resurrected deletes: ${resurrected.length}; divergent flows: ${divergent.length}${everyNode}`
      : `lost outside the asynchronous window: ${lost.length}; in it (≤ ${asyncWindowMs} ms before a kill -9 or SIGSTOP of the master): ${asyncWindowLost.length}; resurrected deletes: ${resurrected.length}, in the window: ${asyncWindowResurrected.length}; divergent flows: ${divergent.length}${everyNode}`,
    `kill -9 → writes accepted: ${fmt(spread(kills.flatMap((f) => f.writesAgainMs)))}`,
    `SIGSTOP → another master named: ${fmt(spread(stalls.flatMap((f) => f.masterMovedMs)))}; writes accepted elsewhere: ${fmt(spread(stalls.flatMap((f) => f.writesAgainMs)))}`,
    `SIGTERM → writes accepted elsewhere: ${fmt(spread(terms.flatMap((f) => f.writesAgainMs)))}`,
    `rolling restarts: ${faults.filter((f) => f.kind === "rolling").length}`,
    `terms per device: ${[...termsPerDevice.values()].join(", ")} (${faults.length === 0 ? "no faults" : `${(totalTerms / termsPerDevice.size / faults.length).toFixed(2)} per device per fault`}); convictions logged: ${input.convictions}`,
  ];
  const bad = [...lost, ...resurrected, ...divergent];
  if (bad.length > 0) {
    lines.push(`FAILED — replay with seed ${input.seed}; the flows:`);
    for (const flow of bad.slice(0, 20))
      lines.push(`  ${flow.deviceId}/${flow.flowId}: ${flow.events.join("; ")}`);
  }
  return {
    seed: input.seed,
    faults,
    acknowledgedAdds,
    acknowledgedDeletes,
    failedRequests: input.failedRequests,
    requests: input.requests,
    lost,
    asyncWindowLost,
    resurrected,
    asyncWindowResurrected,
    divergent,
    termsPerDevice,
    convictions: input.convictions,
    lines,
  };
}
