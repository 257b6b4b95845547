// Development etcd: `pnpm --filter @flowstore/mastership etcd <start|stop|run>`.
//
//   start  start etcd in the background; print its endpoint; remember its PID
//   stop   stop the etcd that `start` started (by its PID) and remove its data directory
//   run    start etcd in the foreground until Ctrl-C
import { readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startEtcd, stopEtcdByPid } from "./etcdServer.js";

const stateFile = process.env.FLOWSTORE_ETCD_STATE ?? join(tmpdir(), "flowstore-dev-etcd.json");

interface State {
  readonly pid: number;
  readonly endpoint: string;
  readonly dataDir: string;
}

async function readState(): Promise<State | undefined> {
  try {
    return JSON.parse(await readFile(stateFile, "utf8")) as State;
  } catch {
    return undefined;
  }
}

async function main(command: string | undefined): Promise<void> {
  switch (command) {
    case "start": {
      const existing = await readState();
      if (existing !== undefined) {
        console.error(
          `already started (pid ${existing.pid}, ${existing.endpoint}); run "stop" first`,
        );
        process.exitCode = 1;
        return;
      }
      const server = await startEtcd({ detached: true });
      const state: State = { pid: server.pid, endpoint: server.endpoint, dataDir: server.dataDir };
      await writeFile(stateFile, JSON.stringify(state));
      console.log(`etcd pid ${server.pid} data ${server.dataDir}`);
      console.log(`ETCD_ENDPOINTS=${server.endpoint}`);
      return;
    }
    case "stop": {
      const state = await readState();
      if (state === undefined) {
        console.error("no etcd started by this script is recorded");
        return;
      }
      await stopEtcdByPid(state.pid, state.dataDir);
      await rm(stateFile, { force: true });
      console.log(`stopped etcd pid ${state.pid}`);
      return;
    }
    case "run": {
      const server = await startEtcd();
      console.log(`ETCD_ENDPOINTS=${server.endpoint} (pid ${server.pid}); Ctrl-C stops it`);
      await new Promise<void>((resolve) => {
        process.once("SIGINT", resolve);
        process.once("SIGTERM", resolve);
      });
      await server.stop();
      return;
    }
    default:
      console.error("usage: etcd <start|stop|run>");
      process.exitCode = 2;
  }
}

await main(process.argv[2]);
