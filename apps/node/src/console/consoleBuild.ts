import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The console's workspace package (`apps/console`), beside this app. */
export const CONSOLE_PACKAGE = fileURLToPath(new URL("../../../console/", import.meta.url));

/** Where the built console is: `$FLOWSTORE_CONSOLE_DIST`, or `apps/console/dist`. */
export function consoleDist(): string {
  return process.env.FLOWSTORE_CONSOLE_DIST ?? join(CONSOLE_PACKAGE, "dist");
}

function newest(path: string): number {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let latest = stat.mtimeMs;
  for (const name of readdirSync(path)) {
    if (name === "node_modules" || name === "e2e") continue;
    latest = Math.max(latest, newest(join(path, name)));
  }
  return latest;
}

/** The newest modification time of the page's sources (`src/`, `index.html`, the Vite config). */
function newestSource(): number {
  return Math.max(
    newest(join(CONSOLE_PACKAGE, "src")),
    newest(join(CONSOLE_PACKAGE, "index.html")),
    newest(join(CONSOLE_PACKAGE, "vite.config.ts")),
    newest(fileURLToPath(new URL("./protocol.ts", import.meta.url))),
  );
}

/** Beside the build: the newest source time it was built from (a build that began before an edit is stale). */
const SOURCES_STAMP = ".sources-mtime";

/**
 * Whether the console must be built: `dist/index.html` is missing, or a source of the page
 * (`src/`, `index.html`, the Vite config, the protocol) changed since the build began.
 */
export function consoleBuildIsStale(dist = consoleDist()): boolean {
  const index = join(dist, "index.html");
  if (!existsSync(index)) return true;
  if (dist !== join(CONSOLE_PACKAGE, "dist")) return false;
  const stamp = join(dist, SOURCES_STAMP);
  // Built by `vite build` alone (no stamp), it may be older than its sources: build it again.
  if (!existsSync(stamp)) return true;
  return newestSource() > Number(readFileSync(stamp, "utf8"));
}

let building: Promise<void> | undefined;

/**
 * Builds the console with Vite when {@link consoleBuildIsStale} says so, once per process and
 * one process at a time, and resolves with the folder to serve. A fresh clone's `pnpm start`
 * serves the page without a separate build step.
 */
export function ensureConsoleBuilt(log?: (message: string) => void): Promise<string> {
  const dist = consoleDist();
  if (!consoleBuildIsStale(dist)) return Promise.resolve(dist);
  const pending =
    building ??
    buildUnderLock(dist, log).finally(() => {
      building = undefined;
    });
  building = pending;
  return pending.then(() => dist);
}

/** How long a build may hold the lock before another process takes it as abandoned (ms). */
const LOCK_STALE_MS = 180_000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Whether the lock's holder is gone: the process named in it (the build, or the node that
 * started it) has exited, or it is older than {@link LOCK_STALE_MS}.
 */
function abandoned(lock: string): boolean {
  const stat = statSync(lock, { throwIfNoEntry: false });
  if (stat === undefined) return false;
  if (Date.now() - stat.mtimeMs > LOCK_STALE_MS) return true;
  const text = existsSync(join(lock, "pid")) ? readFileSync(join(lock, "pid"), "utf8") : "";
  const pid = Number(text);
  return text !== "" && Number.isInteger(pid) && !alive(pid);
}

/**
 * Several node processes may start at once on a fresh clone (tests do): one builds, the
 * others wait for its lock and find the build fresh. A lock whose process died is taken over.
 */
async function buildUnderLock(dist: string, log?: (message: string) => void): Promise<void> {
  const lock = join(
    tmpdir(),
    `flowstore-console-build-${createHash("sha256").update(CONSOLE_PACKAGE).digest("hex").slice(0, 12)}.lock`,
  );
  for (let waited = 0; ; waited += 200) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, "pid"), String(process.pid));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      if (abandoned(lock)) {
        rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (waited > LOCK_STALE_MS)
        throw new Error(`the console build lock ${lock} is held too long`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  try {
    if (consoleBuildIsStale(dist))
      await buildConsole(log, (pid) => writeFileSync(join(lock, "pid"), String(pid)));
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/**
 * Runs `vite build` in `apps/console`; rejects with its output when it fails. The build writes
 * its output to a file, not a pipe, so it finishes even if the node that started it exits.
 */
export function buildConsole(
  log?: (message: string) => void,
  started?: (pid: number) => void,
): Promise<void> {
  const vite = join(CONSOLE_PACKAGE, "node_modules", "vite", "bin", "vite.js");
  if (!existsSync(vite)) {
    return Promise.reject(
      new Error(`the console cannot be built: ${vite} is missing (run pnpm install)`),
    );
  }
  log?.("building the console (vite build)");
  const begin = Date.now();
  const sources = newestSource();
  const output = join(tmpdir(), `flowstore-console-build-${process.pid}-${begin}.log`);
  const fd = openSync(output, "w");
  return new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, [vite, "build", "--logLevel", "warn"], {
      cwd: CONSOLE_PACKAGE,
      stdio: ["ignore", fd, fd],
      env: { ...process.env, NODE_OPTIONS: "" },
    });
    closeSync(fd);
    if (child.pid !== undefined) started?.(child.pid);
    child.on("error", reject);
    child.on("exit", (code) => {
      const text = readFileSync(output, "utf8");
      rmSync(output, { force: true });
      if (code === 0) {
        writeFileSync(join(CONSOLE_PACKAGE, "dist", SOURCES_STAMP), String(sources));
        log?.(`console built in ${Date.now() - begin} ms`);
        resolve();
      } else reject(new Error(`vite build failed (exit ${code}):\n${text}`));
    });
  });
}
