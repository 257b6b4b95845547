// One flowstore node in a child process, driven by the `write-scaling` scenario over IPC.
//
// The parent spawns one worker per node (`spawnWorker`), sends `start` with the cluster's
// addresses and etcd endpoint, and waits for `ready`: the worker's devices have a master
// and their backups, mastership is balanced and this node is the active master of its
// share. A round is `prepare` (build the rules of this node's devices for the round and
// wait until its backups have acknowledged everything) then `go` (write them, reply with
// the flow count and the start/end times on a clock shared by every process).
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import {
  createTcpCluster,
  type NodeId,
  nodeId,
  noopLogger,
  type TcpCluster,
} from "@flowstore/cluster-messaging";
import {
  createFlowRuleStore,
  type EcFlowRuleStore,
  type FlowRuleOperation,
  fromClusterMessaging,
  storeNamespace,
} from "@flowstore/ec-flow-store";
import { type DeviceId, deviceId } from "@flowstore/flow-bucket";
import { createEtcdMastership, type EtcdMastership } from "@flowstore/mastership";
import { z } from "zod";
import { adds, waitUntil } from "../cluster.js";
import { benchRules } from "../workload.js";

// ---- the protocol -----------------------------------------------------------------------

const StartSchema = z.object({
  type: z.literal("start"),
  /** This worker's node id. */
  node: z.string().min(1),
  /** Every node of the cluster, this one included. */
  nodes: z
    .array(z.object({ id: z.string().min(1), host: z.string(), port: z.number().int() }))
    .min(1),
  etcd: z.array(z.string().min(1)).min(1),
  /** etcd key prefix of this cluster's mastership data. */
  prefix: z.string().min(1),
  /** Every device of the cluster; every node is a candidate for each. */
  devices: z.array(z.string().min(1)).min(1),
  /**
   * Devices this node campaigns for on `start`, before any other node campaigns for them on
   * `campaign`: it is their first candidate, so their master.
   */
  preferred: z.array(z.string().min(1)),
  backupCount: z.number().int().nonnegative(),
  /** Ready needs every node to master at least this many devices. */
  minShare: z.number().int().nonnegative(),
  leaseTtl: z.number().int().min(2),
  store: z.object({
    backupPeriod: z.number().positive(),
    antiEntropyPeriod: z.number().positive(),
    requestTimeout: z.number().positive(),
  }),
  /** How long mastership may take to settle before the worker fails, in ms. */
  settleTimeoutMs: z.number().positive(),
  /** Settled means no mastership change for this long, in ms (the balancer's pass is 150 ms). */
  quietMs: z.number().nonnegative(),
});

/** What the parent sends a worker. */
export const ParentMessageSchema = z.discriminatedUnion("type", [
  StartSchema,
  /** Campaign for every device, wait until mastership has settled, answer `ready`. */
  z.object({ type: z.literal("campaign") }),
  z.object({
    type: z.literal("prepare"),
    /** Devices to write: the first ones this node masters that no round has written yet. */
    devicesPerNode: z.number().int().positive(),
    flowsPerDevice: z.number().int().positive(),
    /** First rule index: a fresh range every round, in case devices have to be reused. */
    ruleOffset: z.number().int().nonnegative(),
    batch: z.number().int().positive(),
  }),
  /**
   * Write the prepared round, starting at `at` (ms since the epoch, on the clock of
   * {@link wallClock}) so that every worker starts together whatever the IPC delays.
   */
  z.object({ type: z.literal("go"), at: z.number() }),
  /** How many flows this node holds of `devices` (its own copies, master or backup). */
  z.object({ type: z.literal("count"), devices: z.array(z.string().min(1)) }),
  /** Closes the node; the process stays, ready for another `start`, until the parent disconnects. */
  z.object({ type: z.literal("stop") }),
]);
/** What the parent sends a worker. */
export type ParentMessage = z.infer<typeof ParentMessageSchema>;

/** What a worker sends its parent. */
export const WorkerMessageSchema = z.discriminatedUnion("type", [
  /** The node is up, connected to its peers, and a candidate for its preferred devices. */
  z.object({ type: z.literal("started"), node: z.string() }),
  /** Mastership has settled; `mastered` are the devices this node is the active master of. */
  z.object({ type: z.literal("ready"), node: z.string(), mastered: z.array(z.string()) }),
  /** The round's rules are built and the node's backups are up to date. */
  z.object({
    type: z.literal("prepared"),
    devices: z.array(z.string()),
    flows: z.number(),
    /** Time spent building the rules, and then waiting for the backups to catch up, in ms. */
    buildMs: z.number(),
    quietMs: z.number(),
  }),
  /**
   * The round is written: `flows` acknowledged by the store, `start`/`end` in ms since the
   * epoch (`performance.timeOrigin + performance.now()`), `moved` the devices written whose
   * master this node no longer was at the end (empty when mastership held still).
   */
  z.object({
    type: z.literal("written"),
    flows: z.number(),
    start: z.number(),
    end: z.number(),
    moved: z.array(z.string()),
    /** Devices still mastered here whose table was not in an active term at the end. */
    inactive: z.array(z.string()),
  }),
  z.object({ type: z.literal("counted"), flows: z.number() }),
  z.object({ type: z.literal("stopped") }),
  z.object({ type: z.literal("failed"), message: z.string() }),
]);
/** What a worker sends its parent. */
export type WorkerMessage = z.infer<typeof WorkerMessageSchema>;

/** Why a message from the other side was refused, or a worker misbehaved. */
export class ScalingProtocolError extends Error {
  override readonly name = "ScalingProtocolError";
  readonly code: "INVALID_MESSAGE" | "UNEXPECTED_STATE" | "WORKER_FAILED" | "TIMEOUT" | "EXITED";
  constructor(
    code: ScalingProtocolError["code"],
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.code = code;
  }
}

function parseWith<T>(schema: z.ZodType<T>, raw: unknown, what: string): T {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new ScalingProtocolError(
    "INVALID_MESSAGE",
    `invalid ${what}: ${issue?.path.join(".") || "(root)"}: ${issue?.message ?? "unknown"}`,
    { cause: parsed.error },
  );
}

/** Parses a message from the parent; throws `INVALID_MESSAGE` when it is not one. */
export const parseParentMessage = (raw: unknown): ParentMessage =>
  parseWith(ParentMessageSchema, raw, "parent message");

/** Parses a message from a worker; throws `INVALID_MESSAGE` when it is not one. */
export const parseWorkerMessage = (raw: unknown): WorkerMessage =>
  parseWith(WorkerMessageSchema, raw, "worker message");

/** Resolves after the event loop has run what was waiting (timers, I/O). */
export const yieldToEventLoop = (): Promise<void> =>
  new Promise((resolve) => setImmediate(resolve));

/** Milliseconds since the epoch with sub-millisecond precision, comparable across processes. */
export const wallClock = (): number => performance.timeOrigin + performance.now();

// ---- the worker ---------------------------------------------------------------------------

interface Running {
  readonly id: NodeId;
  readonly start: Extract<ParentMessage, { type: "start" }>;
  readonly cluster: TcpCluster;
  readonly mastership: EtcdMastership<DeviceId>;
  readonly store: EcFlowRuleStore;
}

interface Prepared {
  readonly devices: readonly DeviceId[];
  readonly batches: readonly (readonly FlowRuleOperation[])[][];
  readonly flows: number;
}

/**
 * The state machine of one worker: `start`, then rounds of `prepare` + `go`, `count` at any
 * time after `start`, and `stop` (after which it may be started again, in another cluster).
 * {@link ScalingWorker.handle} answers one message.
 */
export class ScalingWorker {
  #running: Running | undefined;
  #prepared: Prepared | undefined;
  /** Devices some round has written. */
  readonly #used = new Set<DeviceId>();

  /** Answers `message`; a failure is answered as `failed`, never thrown. */
  async handle(message: ParentMessage): Promise<WorkerMessage> {
    try {
      return await this.#handle(message);
    } catch (error) {
      const cause =
        error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : "";
      return { type: "failed", message: `${message.type}: ${String(error)}${cause}` };
    }
  }

  async #handle(message: ParentMessage): Promise<WorkerMessage> {
    switch (message.type) {
      case "start":
        return this.#start(message);
      case "campaign":
        return this.#campaign();
      case "prepare":
        return this.#prepare(message);
      case "go":
        return this.#go(message.at);
      case "count": {
        const { store } = this.#started();
        let flows = 0;
        for (const d of message.devices) flows += store.localTable(deviceId(d))?.size ?? 0;
        return { type: "counted", flows };
      }
      case "stop":
        await this.close();
        return { type: "stopped" };
      default: {
        const unreachable: never = message;
        throw new ScalingProtocolError("INVALID_MESSAGE", `unknown message ${String(unreachable)}`);
      }
    }
  }

  #started(): Running {
    if (this.#running === undefined)
      throw new ScalingProtocolError("UNEXPECTED_STATE", "the worker has not been started");
    return this.#running;
  }

  async #start(message: Extract<ParentMessage, { type: "start" }>): Promise<WorkerMessage> {
    if (this.#running !== undefined)
      throw new ScalingProtocolError("UNEXPECTED_STATE", "the worker is already started");
    const id = nodeId(message.node);
    const nodes = message.nodes.map((n) => ({ id: nodeId(n.id), host: n.host, port: n.port }));
    const cluster = await createTcpCluster({
      config: { name: "write-scaling", nodes },
      local: id,
      namespace: storeNamespace,
      logger: noopLogger,
    });
    let mastership: EtcdMastership<DeviceId> | undefined;
    try {
      await waitUntil(
        () => cluster.connectedPeers().length === nodes.length - 1,
        message.settleTimeoutMs,
        20,
      );
      // No failure detector verdicts here: nothing fails in this benchmark, and a busy
      // 2-core machine must not revoke a node's lease in the middle of a round.
      mastership = await createEtcdMastership<DeviceId>({
        endpoints: message.etcd,
        node: id,
        prefix: message.prefix,
        leaseTtl: message.leaseTtl,
        backupCount: message.backupCount,
      });
      const store = createFlowRuleStore({
        messaging: fromClusterMessaging(cluster.messaging),
        mastership,
        membership: cluster.membership,
        config: message.store,
      });
      this.#running = { id, start: message, cluster, mastership, store };
      const view = mastership;
      await Promise.all(message.preferred.map((d) => view.requestRoleFor(deviceId(d))));
      return { type: "started", node: id };
    } catch (error) {
      if (this.#running === undefined) {
        await mastership?.close().catch(() => undefined);
        await cluster.close();
      }
      throw error;
    }
  }

  async #campaign(): Promise<WorkerMessage> {
    const { id, start, mastership: view, store } = this.#started();
    const devices = start.devices.map(deviceId);
    const nodes = start.nodes.map((n) => nodeId(n.id));
    await Promise.all(devices.map((d) => view.requestRoleFor(d)));
    let lastChange = performance.now();
    const changes = view.events$.subscribe(() => {
      lastChange = performance.now();
    });
    const settled = (): boolean =>
      performance.now() - lastChange >= start.quietMs &&
      nodes.every((n) => view.mastersOf(n).length >= start.minShare) &&
      devices.every((d) => {
        const info = view.mastership(d);
        return info.master !== undefined && info.backups.length === start.backupCount;
      }) &&
      view.mastersOf(id).every((d) => store.isActiveMaster(d));
    try {
      await waitUntil(settled, start.settleTimeoutMs, 20);
    } catch (error) {
      const counts = nodes.map((n) => `${n}=${view.mastersOf(n).length}`).join(" ");
      const short = devices.filter((d) => view.mastership(d).backups.length !== start.backupCount);
      const inactive = view.mastersOf(id).filter((d) => !store.isActiveMaster(d));
      throw new ScalingProtocolError(
        "TIMEOUT",
        `mastership did not settle in ${start.settleTimeoutMs} ms: masters ${counts} (each needs ${start.minShare}); ` +
          `${short.length} devices without ${start.backupCount} backups; ` +
          `${inactive.length} mastered devices not active (e.g. ${inactive.slice(0, 2).join(", ")})`,
        { cause: error },
      );
    } finally {
      changes.unsubscribe();
    }
    return { type: "ready", node: id, mastered: [...view.mastersOf(id)].sort() };
  }

  async #prepare(message: Extract<ParentMessage, { type: "prepare" }>): Promise<WorkerMessage> {
    const { id, mastership, store } = this.#started();
    const mine = [...mastership.mastersOf(id)].sort();
    let fresh = mine.filter((d) => !this.#used.has(d));
    if (fresh.length < message.devicesPerNode) {
      // Every device has been written (more rounds than devices): start over on fresh rules.
      this.#used.clear();
      fresh = mine;
    }
    const devices = fresh.slice(0, message.devicesPerNode);
    if (devices.length !== message.devicesPerNode) {
      throw new ScalingProtocolError(
        "UNEXPECTED_STATE",
        `a round needs ${message.devicesPerNode} devices; this node masters ${mine.length}`,
      );
    }
    for (const d of devices) this.#used.add(d);
    const began = performance.now();
    const batches: FlowRuleOperation[][][] = [];
    for (const d of devices) {
      const out: FlowRuleOperation[][] = [];
      for (let i = 0; i < message.flowsPerDevice; i += message.batch) {
        const count = Math.min(message.batch, message.flowsPerDevice - i);
        out.push(adds(benchRules(d, count, message.ruleOffset + i)));
        // Building rules is slow: let lease keep-alives, heartbeats and backups run between batches.
        await yieldToEventLoop();
      }
      batches.push(out);
    }
    const built = performance.now();
    // Start from a quiet node: the previous round's replication has finished.
    await waitUntil(() => store.stats().unackedBuckets === 0, 60_000, 5);
    const quiet = performance.now();
    (globalThis as { gc?: () => void }).gc?.();
    const flows = devices.length * message.flowsPerDevice;
    this.#prepared = { devices, batches, flows };
    return {
      type: "prepared",
      devices,
      flows,
      buildMs: built - began,
      quietMs: quiet - built,
    };
  }

  async #go(at: number): Promise<WorkerMessage> {
    const { store } = this.#started();
    const prepared = this.#prepared;
    if (prepared === undefined)
      throw new ScalingProtocolError("UNEXPECTED_STATE", "go before prepare");
    this.#prepared = undefined;
    let flows = 0;
    const delay = at - wallClock();
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    const start = wallClock();
    await Promise.all(
      prepared.devices.map(async (d, i) => {
        for (const operations of prepared.batches[i] ?? []) {
          await store.storeBatch({ deviceId: d, operations });
          flows += operations.length;
        }
      }),
    );
    const end = wallClock();
    const { id, mastership } = this.#started();
    const describe = (d: DeviceId) =>
      `${d} on ${id} (store term ${store.term(d)}, mastership ${JSON.stringify(mastership.mastership(d))})`;
    const moved = prepared.devices.filter((d) => mastership.mastership(d).master !== id);
    const inactive = prepared.devices.filter((d) => !moved.includes(d) && !store.isActiveMaster(d));
    return {
      type: "written",
      flows,
      start,
      end,
      moved: moved.map(describe),
      inactive: inactive.map(describe),
    };
  }

  /** Stops the store, withdraws from mastership and closes the cluster node. */
  async close(): Promise<void> {
    const running = this.#running;
    this.#running = undefined;
    this.#prepared = undefined;
    this.#used.clear();
    if (running === undefined) return;
    running.store.close();
    await running.mastership.close().catch(() => undefined);
    await running.cluster.close();
  }
}

/** Serves the parent over IPC until it disconnects. */
function serveParent(): void {
  const send = process.send?.bind(process);
  if (send === undefined) throw new Error("the scaling worker must be started with an IPC channel");
  const worker = new ScalingWorker();
  let queue: Promise<void> = Promise.resolve();
  process.on("message", (raw: unknown) => {
    queue = queue.then(async () => {
      let reply: WorkerMessage;
      try {
        reply = await worker.handle(parseParentMessage(raw));
      } catch (error) {
        reply = { type: "failed", message: String(error) };
      }
      if (process.connected) send(reply);
    });
  });
  process.on("disconnect", () => {
    void worker.close().finally(() => process.exit(0));
  });
}

// ---- the parent's side --------------------------------------------------------------------

/** This file, to spawn. */
export const WORKER_PATH = fileURLToPath(import.meta.url);
/** The bench package's folder (where `tsx` resolves from). */
const PACKAGE_DIR = path.resolve(path.dirname(WORKER_PATH), "..", "..");

/** A worker process as the parent sees it: one request at a time, each with one reply. */
export interface WorkerProcess {
  readonly pid: number;
  /** Sends `message` and resolves with the reply of type `expect`; a `failed` reply rejects. */
  request<T extends WorkerMessage["type"]>(
    message: ParentMessage,
    expect: T,
    timeoutMs: number,
  ): Promise<Extract<WorkerMessage, { type: T }>>;
  /**
   * Asks the worker to close its node and disconnects (the worker then exits), then kills it
   * by its PID if it has not exited; idempotent.
   */
  kill(): Promise<void>;
}

/**
 * Spawns a worker: `node --conditions=@flowstore/source --import tsx worker.ts` with an IPC
 * channel, running from the bench package's sources.
 */
export function spawnWorker(): WorkerProcess {
  const child: ChildProcess = spawn(
    process.execPath,
    ["--expose-gc", "--conditions=@flowstore/source", "--import", "tsx", WORKER_PATH],
    { cwd: PACKAGE_DIR, stdio: ["ignore", "inherit", "inherit", "ipc"] },
  );
  const pid = child.pid;
  if (pid === undefined) throw new ScalingProtocolError("EXITED", "could not spawn a worker");
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let waiting: { resolve(message: WorkerMessage): void; reject(error: unknown): void } | undefined;
  child.on("message", (raw: unknown) => {
    const current = waiting;
    waiting = undefined;
    try {
      current?.resolve(parseWorkerMessage(raw));
    } catch (error) {
      current?.reject(error);
    }
  });
  child.once("exit", (code, signal) => {
    waiting?.reject(
      new ScalingProtocolError("EXITED", `worker ${pid} exited (${signal ?? code ?? "?"})`),
    );
    waiting = undefined;
  });
  const alive = () => child.exitCode === null && child.signalCode === null;
  const request = async <T extends WorkerMessage["type"]>(
    message: ParentMessage,
    expect: T,
    timeoutMs: number,
  ): Promise<Extract<WorkerMessage, { type: T }>> => {
    if (waiting !== undefined)
      throw new ScalingProtocolError("UNEXPECTED_STATE", "a request is already in flight");
    if (!alive()) throw new ScalingProtocolError("EXITED", `worker ${pid} has exited`);
    let timer: NodeJS.Timeout | undefined;
    const reply = new Promise<WorkerMessage>((resolve, reject) => {
      waiting = { resolve, reject };
      timer = setTimeout(() => {
        waiting = undefined;
        reject(
          new ScalingProtocolError(
            "TIMEOUT",
            `worker ${pid}: no reply to ${message.type} in ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      child.send(message, (error) => {
        if (error !== null) {
          waiting = undefined;
          reject(error);
        }
      });
    });
    try {
      const answer = await reply;
      if (answer.type === "failed")
        throw new ScalingProtocolError("WORKER_FAILED", `worker ${pid}: ${answer.message}`);
      if (answer.type !== expect)
        throw new ScalingProtocolError(
          "INVALID_MESSAGE",
          `worker ${pid}: expected ${expect}, got ${answer.type}`,
        );
      return answer as Extract<WorkerMessage, { type: T }>;
    } finally {
      clearTimeout(timer);
    }
  };
  let killed: Promise<void> | undefined;
  const kill = (): Promise<void> => {
    killed ??= (async () => {
      const within = (ms: number) =>
        Promise.race([
          exited.then(() => true),
          new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms).unref()),
        ]);
      if (alive() && child.connected && waiting === undefined) {
        await request({ type: "stop" }, "stopped", 10_000).catch(() => undefined);
        if (child.connected) child.disconnect();
        if (alive()) await within(3000);
      }
      if (alive()) {
        process.kill(pid, "SIGTERM");
        await within(5000);
      }
      if (alive()) {
        process.kill(pid, "SIGKILL");
        await exited;
      }
    })();
    return killed;
  };
  return { pid, request, kill };
}

const invokedDirectly =
  process.argv[1] !== undefined && path.resolve(process.argv[1]) === WORKER_PATH;
if (invokedDirectly) serveParent();
