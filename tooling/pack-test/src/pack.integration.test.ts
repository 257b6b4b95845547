// The published packages as a stranger gets them: built, packed with `pnpm pack`, installed
// from the tarballs with npm into an empty project outside the workspace, the README
// examples compiled there by tsc against the installed declarations, and run by plain node.
import { execFile } from "node:child_process";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { type EtcdServer, startEtcd } from "@flowstore/mastership/etcd-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const exec = promisify(execFile);
const root = fileURLToPath(new URL("../../..", import.meta.url));
const require = createRequire(import.meta.url);
const tsc = join(require.resolve("typescript/package.json"), "..", "bin", "tsc");

/** The published packages, in dependency order. */
const PACKAGES = [
  "serializers",
  "flow-bucket",
  "cluster-messaging",
  "mastership",
  "ec-flow-store",
  "flow-persistence",
];

/** What each example prints (one pattern per line it logs), keyed `<package>/<file>`. */
const PRINTS: Record<string, readonly RegExp[]> = {
  "serializers/basic": [
    /^\{ bucket: 3, term: 9223372036854775808n \}$/m,
    /^\{ type: 'Digest', value: \{ bucket: 3, term: 9223372036854775808n \} \}$/m,
    /^[0-9a-f]{16}$/m,
    /^WRONG_TYPE$/m,
  ],
  "flow-bucket/basic": [
    /deviceId: 'of:0000000000000001',\s+term: 1,\s+timestamp: 1,\s+buckets: 1,/,
    /id: '3455449622707804'/,
    /state: 'PENDING_ADD'/,
    /^FlowBucket$/m,
  ],
  "cluster-messaging/basic": [/^\{ type: 'NODE_ACTIVE', node: 'n2' \}$/m, /^5$/m],
  "cluster-messaging/memoryNetwork": [/^ACTIVE\nINACTIVE\nACTIVE$/m],
  "mastership/embedded": [
    /^MASTER_CHANGED of:0000000000000001 1 n1 \[\]$/m,
    /^BACKUPS_CHANGED of:0000000000000001 1 n1 \[ 'n2' \]$/m,
    /^true\n1$/m,
  ],
  "mastership/applications": [/^1 org\.onosproject\.rest\n2 1$/m],
  "mastership/etcd": [/^n1 true$/m],
  "ec-flow-store/basic": [/^\[ '547670265897241: PENDING_ADD' \]$/m],
  "flow-persistence/basic": [
    /^of:0000000000000001 3 \[ '\d+: 1' \]$/m,
    /^3 14841639068965178418$/m,
  ],
};

/** The environment of npm and node in the project: none of pnpm's `npm_*` settings. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const kept = /^npm_config_(registry|cache|https?_proxy|proxy|noproxy|cafile|strict_ssl)$/i;
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^npm_/i.test(key) || kept.test(key)) env[key] = value;
  }
  return { ...env, ...extra };
}

/** Runs a command; on failure the error carries its output. */
async function sh(
  file: string,
  args: readonly string[],
  cwd: string,
  options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<string> {
  try {
    const { stdout } = await exec(file, args, {
      cwd,
      env: options.env ?? cleanEnv(),
      timeout: options.timeoutMs ?? 120_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout;
  } catch (error) {
    const { stdout = "", stderr = "" } = error as { stdout?: string; stderr?: string };
    throw new Error(`${file} ${args.join(" ")} failed in ${cwd}:\n${stdout}\n${stderr}`, {
      cause: error,
    });
  }
}

/** The examples of every package: `<package>/<file without .ts>`. */
async function examples(): Promise<string[]> {
  const found: string[] = [];
  for (const name of PACKAGES) {
    const files = await readdir(join(root, "packages", name, "examples")).catch(() => []);
    for (const file of files.filter((f) => f.endsWith(".ts")).sort()) {
      found.push(`${name}/${file.slice(0, -3)}`);
    }
  }
  return found;
}

let work: string | undefined;
let project = "";
let etcd: EtcdServer | undefined;
const seconds: Record<string, string> = {};

/** Runs `step` and records how long it took. */
async function timed<T>(name: string, step: () => Promise<T>): Promise<T> {
  const start = performance.now();
  const result = await step();
  seconds[name] = ((performance.now() - start) / 1000).toFixed(1);
  return result;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "flowstore-pack-"));
  const tarballs = join(work, "tarballs");
  project = join(work, "project");
  await mkdir(project, { recursive: true });

  await timed("build", () =>
    sh(
      "pnpm",
      ["exec", "turbo", "run", "build", "--filter=./packages/*", "--output-logs=errors-only"],
      root,
      {
        env: { ...process.env },
        timeoutMs: 180_000,
      },
    ),
  );
  await timed("pack", () =>
    Promise.all(
      PACKAGES.map((name) =>
        sh("pnpm", ["pack", "--pack-destination", tarballs], join(root, "packages", name), {
          env: { ...process.env },
        }),
      ),
    ),
  );

  // An empty project: the tarballs, what the examples import themselves, and Node's types.
  const installed = JSON.parse(
    await readFile(require.resolve("@types/node/package.json"), "utf8"),
  ) as { version: string };
  await writeFile(
    join(project, "package.json"),
    `${JSON.stringify({ name: "flowstore-consumer", private: true, type: "module" }, null, 2)}\n`,
  );
  const files = (await readdir(tarballs)).map((file) => join(tarballs, file));
  expect(files).toHaveLength(PACKAGES.length);
  await timed("npm install", () =>
    sh(
      "npm",
      [
        "install",
        "--no-audit",
        "--no-fund",
        "--prefer-offline",
        "--ignore-scripts",
        "--loglevel=error",
        ...files,
        "zod@^4",
        "rxjs@^7",
        `@types/node@${installed.version}`,
      ],
      project,
      { timeoutMs: 180_000 },
    ),
  );

  // The examples, compiled as a consumer would: strict, NodeNext, the installed .d.ts.
  const found = await examples();
  expect(found.toSorted()).toEqual(Object.keys(PRINTS).toSorted());
  for (const example of found) {
    const [name, file] = example.split("/");
    await cp(
      join(root, "packages", `${name}`, "examples", `${file}.ts`),
      join(project, "src", `${example}.ts`),
    );
  }
  const compilerOptions = {
    target: "ES2022",
    module: "NodeNext",
    moduleResolution: "NodeNext",
    strict: true,
    noUncheckedIndexedAccess: true,
    exactOptionalPropertyTypes: true,
    verbatimModuleSyntax: true,
    skipLibCheck: true,
    types: ["node"],
    rootDir: "src",
    outDir: "dist",
  };
  await writeFile(
    join(project, "tsconfig.json"),
    `${JSON.stringify({ compilerOptions, include: ["src"] }, null, 2)}\n`,
  );
  await timed("tsc", () => sh(process.execPath, [tsc, "-p", project], project));
  etcd = await startEtcd();
}, 400_000);

afterAll(async () => {
  await etcd?.stop();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
  console.log(
    `pack test: ${Object.entries(seconds)
      .map(([step, s]) => `${step} ${s} s`)
      .join(", ")}`,
  );
});

describe("the packed packages, installed by npm outside the workspace", () => {
  it.each(PACKAGES)(
    "%s: the installed manifest names only files it ships, under dist/",
    async (name) => {
      const dir = join(project, "node_modules", "@flowstore", name);
      const manifest = JSON.parse(await readFile(join(dir, "package.json"), "utf8")) as {
        exports: Record<string, Record<string, string>>;
        dependencies?: Record<string, string>;
      };
      const text = JSON.stringify(manifest);
      expect(text).not.toMatch(/workspace:|catalog:|@flowstore\/source/);
      const targets = Object.values(manifest.exports).flatMap((conditions) =>
        Object.values(conditions),
      );
      expect(targets.length).toBeGreaterThan(0);
      for (const target of targets) {
        expect(target).toMatch(/^\.\/dist\/.+\.(d\.ts|js)$/);
        await expect(readFile(join(dir, target), "utf8")).resolves.toBeTypeOf("string");
      }
      const shipped = await readdir(join(dir, "dist"), { recursive: true });
      expect(shipped.filter((file) => /\.test\.(js|d\.ts)$/.test(file))).toEqual([]);
    },
  );

  it("compiles every README example with tsc against the installed declarations", async () => {
    const emitted = await readdir(join(project, "dist"), { recursive: true });
    expect(emitted.filter((file) => file.endsWith(".js")).toSorted()).toEqual(
      Object.keys(PRINTS)
        .map((example) => `${example}.js`)
        .toSorted(),
    );
  });

  it.each(Object.entries(PRINTS))(
    "node runs %s and it prints what its comments say",
    async (example, prints) => {
      if (etcd === undefined) throw new Error("etcd did not start (see the beforeAll error)");
      const stdout = await sh(process.execPath, [join("dist", `${example}.js`)], project, {
        timeoutMs: 30_000,
        env: cleanEnv({ ETCD_ENDPOINTS: etcd.endpoint }),
      });
      for (const line of prints) expect(stdout).toMatch(line);
    },
  );
});
