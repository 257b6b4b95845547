// `pnpm benchmark`: runs src/bench.ts from source (the workspace's source condition), with
// the collector exposed for heap readings. A script file, so the published manifest names
// no workspace-only condition.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const bench = fileURLToPath(new URL("../src/bench.ts", import.meta.url));
const { status } = spawnSync(
  process.execPath,
  [
    "--expose-gc",
    "--conditions=@flowstore/source",
    "--import",
    "tsx",
    bench,
    ...process.argv.slice(2),
  ],
  { stdio: "inherit" },
);
process.exit(status ?? 1);
