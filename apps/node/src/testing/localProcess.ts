import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { consecutiveFreePorts, waitFor } from "@flowstore/cluster-messaging/testing";

const here = path.dirname(fileURLToPath(import.meta.url));
const cli = path.join(here, "..", "cli.ts");

/** `flowstore-node --local 3` in a child process, as a test starts and stops it. */
export interface LocalProcess {
  /** The REST port of n1, n2, n3. */
  readonly ports: readonly number[];
  /** The last 20,000 characters it printed. */
  output(): string;
  /** Kills it by its PID (SIGKILL) and waits for it to exit. */
  stop(): Promise<void>;
}

/**
 * Starts `flowstore-node --local 3 --devices 2` with `args` on three free loopback REST
 * ports, and waits until every node answers and `device` has a master.
 */
export async function startLocalProcess(
  device: string,
  args: readonly string[] = [],
): Promise<LocalProcess> {
  const ports = await consecutiveFreePorts(3);
  const child: ChildProcess = spawn(
    process.execPath,
    [
      "--conditions=@flowstore/source",
      "--import",
      "tsx",
      cli,
      ...["--local", "3", "--rest-port", String(ports[0]), "--devices", "2"],
      ...["--log-level", "warn", ...args],
    ],
    { cwd: path.join(here, "..", ".."), stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const stop = async () => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      process.kill(child.pid, "SIGKILL");
      await exited;
    }
  };
  try {
    for (const port of ports) {
      await waitFor(
        `the REST API on ${port}`,
        async () =>
          (await fetch(`http://127.0.0.1:${port}/onos/v1/cluster`)).status === 200
            ? true
            : undefined,
        60_000,
      );
    }
    // The device has a master before the first write (a write with none is refused).
    await waitFor(
      `a master for ${device}`,
      async () =>
        (await fetch(`http://127.0.0.1:${ports[0]}/onos/v1/mastership/${device}/master`)).status ===
        200
          ? true
          : undefined,
      30_000,
    );
  } catch (error) {
    await stop();
    throw new Error(`${String(error)}\nnode output:\n${output}`);
  }
  return { ports, output: () => output, stop };
}
