// The `flowstore-node` bin as an operator runs it: from another directory, one process.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePorts } from "@flowstore/cluster-messaging";
import { waitFor } from "@flowstore/cluster-messaging/testing";
import { afterEach, describe, expect, it } from "vitest";

const bin = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  "..",
  "bin",
  "flowstore-node.js",
);

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** The command lines of `pid`'s child processes that run a node (the console build may run). */
function nodeChildrenOf(pid: number): string[] {
  const out = spawnSync("ps", ["-o", "args=", "--ppid", String(pid)], { encoding: "utf8" });
  return out.stdout.split("\n").filter((line) => /cli\.(ts|js)|flowstore-node/.test(line));
}

let child: ChildProcess | undefined;

afterEach(() => {
  if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null)
    process.kill(child.pid, "SIGKILL");
  child = undefined;
});

describe("the flowstore-node bin", () => {
  it("prints its usage when run from a directory outside the workspace", () => {
    const out = spawnSync(process.execPath, [bin, "--help"], {
      cwd: tmpdir(),
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(out.stderr).toBe("");
    expect(out.status).toBe(0);
    expect(out.stdout).toContain("flowstore-node — a flowstore cluster node");
    expect(out.stdout).toContain("--local N");
  });

  it("runs the node in its own process: kill -9 of its PID closes the REST port", async () => {
    const [rest] = (await freePorts(1)) as [number];
    const started = spawn(
      process.execPath,
      [bin, "--local", "1", "--rest-port", String(rest), "--devices", "2", "--log-level", "warn"],
      { cwd: tmpdir(), stdio: ["ignore", "pipe", "pipe"] },
    );
    child = started;
    const pid = started.pid as number;
    await waitFor(
      `the REST port ${rest}`,
      async () => ((await listening(rest)) ? true : undefined),
      60_000,
    );
    const response = await fetch(`http://127.0.0.1:${rest}/onos/v1/cluster`);
    expect(response.status).toBe(200);
    expect(nodeChildrenOf(pid)).toEqual([]);
    const exited = new Promise((resolve) => started.once("exit", resolve));
    process.kill(pid, "SIGKILL");
    await exited;
    expect(started.signalCode).toBe("SIGKILL");
    expect(await listening(rest)).toBe(false);
  });

  it("stops gracefully on SIGTERM sent to its PID", async () => {
    const [rest] = (await freePorts(1)) as [number];
    const started = spawn(
      process.execPath,
      [bin, "--local", "1", "--rest-port", String(rest), "--devices", "2", "--log-level", "info"],
      { cwd: tmpdir(), stdio: ["ignore", "pipe", "pipe"] },
    );
    child = started;
    let output = "";
    started.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    await waitFor(
      `the REST port ${rest}`,
      async () => ((await listening(rest)) ? true : undefined),
      60_000,
    );
    const exited = new Promise<number | null>((resolve) => started.once("exit", resolve));
    process.kill(started.pid as number, "SIGTERM");
    expect(await exited).toBe(0);
    expect(output).toContain("stopped");
    expect(await listening(rest)).toBe(false);
  });
});
