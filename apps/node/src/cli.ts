#!/usr/bin/env node
import { parseCommandLine, usage } from "./commandLine.js";
import { ConfigError, type RunConfig } from "./config.js";
import { startLocalCluster } from "./localCluster.js";
import { createProcessLogger } from "./logger.js";
import { type Running, startNode } from "./node.js";

async function main(): Promise<void> {
  let run: RunConfig | "help";
  try {
    run = parseCommandLine(process.argv.slice(2));
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(
        `flowstore-node: ${error.message}\nRun flowstore-node --help for the options.\n`,
      );
      process.exitCode = 2;
      return;
    }
    throw error;
  }
  if (run === "help") {
    process.stdout.write(usage);
    return;
  }
  const log = createProcessLogger(run.config.logLevel);
  // Handlers first: a signal that arrives while the node starts stops it once it is up,
  // instead of killing it half-started.
  let running: Running | undefined;
  let stopRequested: string | undefined;
  let stopping = false;
  const stop = (signal: string) => {
    if (running === undefined) {
      stopRequested ??= signal;
      return;
    }
    if (stopping) return;
    stopping = true;
    log.info("shutting down", { signal });
    running.close().then(
      () => {
        log.info("stopped");
        process.exit(0);
      },
      (error: unknown) => {
        log.error("shutdown failed", { error: String(error) });
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  try {
    running =
      run.mode === "local"
        ? await startLocalCluster(run.config, log)
        : await startNode(run.config, log);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(
        `flowstore-node: ${error.message}\nRun flowstore-node --help for the options.\n`,
      );
      process.exit(2);
    }
    throw error;
  }
  if (stopRequested !== undefined) stop(stopRequested);
}

main().catch((error: unknown) => {
  process.stderr.write(`flowstore-node: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
