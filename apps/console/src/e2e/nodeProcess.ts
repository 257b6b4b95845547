// `flowstore-node --local 3` as a child process on free loopback ports, for the end-to-end
// tests: started as `pnpm start` starts it, stopped by its PID.
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import type { ConsoleSnapshot } from "../protocol";

/** The node app (`apps/node`), beside this package. */
const NODE_APP = fileURLToPath(new URL("../../../node/", import.meta.url));

/** A running `--local` cluster. */
export interface NodeProcess {
  readonly pid: number;
  /** REST base URL of node `n1`, `n2`, … */
  url(node: string): string;
  /** What the process printed so far. */
  output(): string;
  stop(): Promise<void>;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** `count` consecutive free loopback ports (bounded attempts). */
async function consecutiveFreePorts(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    let free = true;
    for (let i = 0; i < count && free; i++) free = await portFree(base + i);
    if (free) return base;
  }
  throw new Error(`no ${count} consecutive free ports found`);
}

/**
 * Starts `flowstore-node --local 3 --rest-port P` (P, P+1, P+2 free) as `pnpm start` does (the
 * node builds the console if need be) and resolves when node n1 serves the page and its
 * console reports every node active and mastering devices (balanced), and every device with
 * a master in an active term.
 */
export async function startLocalCluster(
  options: { devices?: number; extra?: readonly string[] } = {},
): Promise<NodeProcess> {
  const base = await consecutiveFreePorts(3);
  const args = [
    "--conditions=@flowstore/source",
    "--import",
    "tsx",
    "src/cli.ts",
    "--local",
    "3",
    "--rest-port",
    String(base),
    "--devices",
    String(options.devices ?? 8),
    ...(options.extra ?? []),
  ];
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: NODE_APP,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NODE_OPTIONS: "" },
  });
  let output = "";
  const append = (chunk: Buffer) => {
    output += chunk.toString();
    if (output.length > 2_000_000) output = output.slice(-1_000_000);
  };
  child.stdout?.on("data", append);
  child.stderr?.on("data", append);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = (node: string) => `http://127.0.0.1:${base + Number(node.replace(/^n/, "")) - 1}`;
  const stop = async () => {
    if (child.exitCode !== null || child.pid === undefined) return;
    process.kill(child.pid, "SIGTERM");
    const killed = setTimeout(() => {
      if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, "SIGKILL");
    }, 10_000);
    await exited;
    clearTimeout(killed);
  };
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the node exited (${child.exitCode}):\n${output}`);
    try {
      const response = await fetch(`${url("n1")}/ui/api/state`);
      if (response.ok) {
        const state = (await response.json()) as ConsoleSnapshot;
        // The node builds the page when it is missing or older than its sources.
        const page = await fetch(`${url("n1")}/ui/`);
        if (
          page.ok &&
          (await page.text()).includes('id="app"') &&
          state.nodes.every((n) => n.status === "ACTIVE" && n.masters > 0) &&
          state.devices.length > 0 &&
          state.devices.every((d) => d.master !== null && d.termState === "ACTIVE")
        ) {
          break;
        }
      }
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the cluster did not settle in 90 s:\n${output.slice(-5000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return { pid: child.pid!, url, output: () => output, stop };
}
