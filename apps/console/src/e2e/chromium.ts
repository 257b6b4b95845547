// Debian's chromium for the end-to-end tests: found, or installed with apt-get when the tests
// run as root (as the etcd tests install etcd-server), else a clear failure. Nothing is
// downloaded by the test tooling itself.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium } from "playwright-core";

/** Where Debian's `chromium` package installs the browser. */
export const CHROMIUM = "/usr/bin/chromium";

/** The flags every test browser runs with: headless, no sandbox, nothing fetched on its own. */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** The message given when chromium is missing and cannot be installed here. */
export function missingChromiumMessage(binary: string): string {
  return (
    `chromium is not installed (${binary} not found). The console's end-to-end tests drive ` +
    "Debian's chromium: install it with `apt-get install -y chromium` (the tests do this " +
    "themselves when they run as root), or point CHROMIUM_BINARY at a chromium binary."
  );
}

/** Installs Debian's chromium with apt-get when this process may (root, apt-get present), once. */
function installChromium(): void {
  if (process.getuid?.() !== 0 || !existsSync("/usr/bin/apt-get")) return;
  const script =
    `test -x ${CHROMIUM} || ` +
    "(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)";
  const lock = join(tmpdir(), "flowstore-chromium-install.lock");
  const command = existsSync("/usr/bin/flock")
    ? ["/usr/bin/flock", lock, "sh", "-c", script]
    : ["sh", "-c", script];
  spawnSync(command[0]!, command.slice(1), { stdio: "ignore", timeout: 900_000 });
}

/** The chromium binary to drive: `$CHROMIUM_BINARY`, or Debian's (installed if need be). */
export function chromiumBinary(): string {
  const binary = process.env.CHROMIUM_BINARY ?? CHROMIUM;
  if (!existsSync(binary) && binary === CHROMIUM) installChromium();
  if (!existsSync(binary)) throw new Error(missingChromiumMessage(binary));
  return binary;
}

/** A headless chromium with a fresh profile in a temporary folder. */
export async function launchChromium(): Promise<{ context: BrowserContext; profile: string }> {
  const executablePath = chromiumBinary();
  const profile = await mkdtemp(join(tmpdir(), "flowstore-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1400, height: 900 },
    timeout: 60_000,
  });
  return { context, profile };
}
