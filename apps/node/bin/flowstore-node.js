#!/usr/bin/env node
// Runs the node from its TypeScript source inside the workspace (tsx, source condition),
// forwarding signals so SIGTERM still shuts the node down gracefully.
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const child = spawn(
  process.execPath,
  [
    "--conditions=@flowstore/source",
    "--import",
    "tsx",
    join(here, "..", "src", "cli.ts"),
    ...process.argv.slice(2),
  ],
  { stdio: "inherit" },
);
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code, signal) => process.exit(code ?? (signal === null ? 1 : 128)));
