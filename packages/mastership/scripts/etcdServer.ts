// A throw-away etcd for tests, benchmarks and development: Debian's `etcd-server` binary on
// free loopback ports with a temporary data directory, stopped by its PID.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePorts } from "@flowstore/cluster-messaging";

/** Where Debian's `etcd-server` package installs the server. */
export const DEFAULT_ETCD_BINARY = "/usr/bin/etcd";

/** A running etcd started by {@link startEtcd}. */
export interface EtcdServer {
  /** The client URL, e.g. `http://127.0.0.1:40123`. */
  readonly endpoint: string;
  /** The server's process id. */
  readonly pid: number;
  /** The temporary data directory (removed by `stop()`). */
  readonly dataDir: string;
  /** Kills the server by its PID, waits for it to exit and removes the data directory. */
  stop(): Promise<void>;
}

/** Options of {@link startEtcd}. */
export interface StartEtcdOptions {
  /** Path of the etcd binary; default `$ETCD_BINARY` or `/usr/bin/etcd`. */
  readonly binary?: string;
  /** How long to wait for the server to answer `/health`; default 20 s. */
  readonly readyTimeoutMs?: number;
  /** Keep the server running when this process exits (the CLI's `start`); default false. */
  readonly detached?: boolean;
}

/** The message given when the etcd binary is missing. */
export function missingEtcdMessage(binary: string): string {
  return (
    `etcd is not installed (${binary} not found). The etcd tests and benchmarks need a real ` +
    "etcd: install Debian's etcd-server with `apt-get install -y etcd-server` " +
    "(the tests do this themselves when they run as root), or point ETCD_BINARY at an etcd 3.4+ binary."
  );
}

/**
 * Installs Debian's etcd-server with apt when this process may (it runs as root and apt-get
 * exists), once, under a file lock so parallel test files do not race; otherwise does
 * nothing and the caller reports the missing binary.
 */
function installEtcd(): void {
  if (process.getuid?.() !== 0 || !existsSync("/usr/bin/apt-get")) return;
  const script =
    `test -x ${DEFAULT_ETCD_BINARY} || ` +
    "(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server)";
  const lock = join(tmpdir(), "flowstore-etcd-install.lock");
  const command = existsSync("/usr/bin/flock")
    ? ["/usr/bin/flock", lock, "sh", "-c", script]
    : ["sh", "-c", script];
  spawnSync(command[0]!, command.slice(1), { stdio: "ignore", timeout: 600_000 });
}

/**
 * Starts a single-member etcd on free loopback client and peer ports with a fresh data
 * directory, and resolves once it answers `/health`.
 *
 * @remarks Fails with an explanatory error when the binary is missing; never silently
 * skips. Retries with new ports when the chosen ones were taken in between.
 */
export async function startEtcd(options: StartEtcdOptions = {}): Promise<EtcdServer> {
  const binary = options.binary ?? process.env.ETCD_BINARY ?? DEFAULT_ETCD_BINARY;
  if (!existsSync(binary) && binary === DEFAULT_ETCD_BINARY) installEtcd();
  if (!existsSync(binary)) throw new Error(missingEtcdMessage(binary));
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(binary, options);
    } catch (error) {
      lastError = error;
    }
  }
  throw new Error(`etcd did not start after 3 attempts`, { cause: lastError });
}

async function startOnce(binary: string, options: StartEtcdOptions): Promise<EtcdServer> {
  const [clientPort, peerPort] = (await freePorts(2)) as [number, number];
  const dataDir = await mkdtemp(join(tmpdir(), "flowstore-etcd-"));
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const args = [
    "--name=flowstore-test",
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=flowstore-test=${peer}`,
    "--initial-cluster-state=new",
    "--logger=zap",
    "--log-outputs=stderr",
    "--log-level=error",
  ];
  const detached = options.detached ?? false;
  const child = spawn(binary, args, {
    stdio: detached ? "ignore" : ["ignore", "ignore", "pipe"],
    detached,
  });
  let stderr = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => resolve(code)),
  );
  const pid = child.pid;
  if (pid === undefined) {
    await rm(dataDir, { recursive: true, force: true });
    throw new Error(`could not spawn ${binary}`);
  }
  const stop = async (): Promise<void> => {
    await killAndWait(child, pid, exited);
    await rm(dataDir, { recursive: true, force: true });
  };
  const deadline = Date.now() + (options.readyTimeoutMs ?? 20_000);
  let exitCode: number | null | undefined;
  void exited.then((code) => {
    exitCode = code;
  });
  while (Date.now() < deadline) {
    if (exitCode !== undefined) {
      await rm(dataDir, { recursive: true, force: true });
      throw new Error(`etcd exited with code ${exitCode}: ${stderr.trim()}`);
    }
    if (await healthy(client)) {
      if (detached) child.unref();
      return { endpoint: client, pid, dataDir, stop };
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await stop();
  throw new Error(`etcd did not become healthy at ${client} in time: ${stderr.trim()}`);
}

async function healthy(endpoint: string): Promise<boolean> {
  try {
    const response = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1000) });
    const body = (await response.json()) as { health?: unknown };
    return response.ok && body.health === "true";
  } catch {
    return false;
  }
}

async function killAndWait(
  child: ChildProcess,
  pid: number,
  exited: Promise<number | null>,
): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  process.kill(pid, "SIGTERM");
  const timeout = new Promise<"timeout">((resolve) =>
    setTimeout(() => resolve("timeout"), 5000).unref(),
  );
  if ((await Promise.race([exited, timeout])) === "timeout") {
    process.kill(pid, "SIGKILL");
    await exited;
  }
}

/** Stops an etcd started elsewhere (e.g. by the CLI's `start`) by its PID, then removes `dataDir`. */
export async function stopEtcdByPid(pid: number, dataDir: string | undefined): Promise<void> {
  const alive = (): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (alive()) {
    process.kill(pid, "SIGTERM");
    const deadline = Date.now() + 5000;
    while (alive() && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50));
    if (alive()) process.kill(pid, "SIGKILL");
  }
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
}
