import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseCommandLine } from "./commandLine.js";
import { ConfigError } from "./config.js";

const here = path.dirname(fileURLToPath(import.meta.url));

function run(...args: string[]) {
  return spawnSync(
    process.execPath,
    ["--conditions=@flowstore/source", "--import", "tsx", path.join(here, "cli.ts"), ...args],
    {
      cwd: path.join(here, ".."),
      encoding: "utf8",
      timeout: 30_000,
    },
  );
}

describe("the command line", () => {
  it("--help documents every mode and option", () => {
    const result = run("--help");
    expect(result.status).toBe(0);
    for (const flag of [
      "--local",
      "--id",
      "--listen",
      "--peers",
      "--etcd",
      "--rest",
      "--devices",
      "--config",
      "--log-level",
      "--auth",
    ]) {
      expect(result.stdout).toContain(flag);
    }
  });

  it("refuses a bad flag value with a message naming the field, exit code 2", () => {
    const result = run("--id", "n1", "--listen", "nowhere");
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("listen: listen must be host:port");
    expect(run("--local", "3", "--devices", "many").stderr).toContain(
      "--devices: expected a number",
    );
    expect(run("--bogus").stderr).toContain("bogus");
  });

  it("parses a multi-process node's flags", () => {
    const config = parseCommandLine([
      ...[
        "--id",
        "n1",
        "--listen",
        "127.0.0.1:9876",
        "--peers",
        "n2=127.0.0.1:9877,n3=127.0.0.1:9878",
      ],
      ...[
        "--etcd",
        "http://127.0.0.1:2379",
        "--rest",
        "127.0.0.1:8181",
        "--devices",
        "8",
        "--backup-period",
        "1000",
      ],
    ]);
    expect(config).toMatchObject({
      mode: "node",
      config: {
        id: "n1",
        listen: { host: "127.0.0.1", port: 9876 },
        peers: { n2: { host: "127.0.0.1", port: 9877 }, n3: { host: "127.0.0.1", port: 9878 } },
        etcd: ["http://127.0.0.1:2379"],
        rest: { host: "127.0.0.1", port: 8181 },
        devices: 8,
        store: { backupPeriod: 1000 },
      },
    });
  });

  it("takes flags after the `--` that `pnpm start -- …` passes on, and still refuses other arguments", () => {
    expect(parseCommandLine(["--local", "3", "--", "--rest-port", "18200"])).toMatchObject({
      config: { local: 3, restPort: 18200 },
    });
    expect(() => parseCommandLine(["--local", "3", "extra"])).toThrow(ConfigError);
  });

  it("reads --config files, flags winning, and names the bad field of a file", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "flowstore-config-"));
    try {
      const file = path.join(dir, "node.json");
      writeFileSync(
        file,
        JSON.stringify({
          id: "n1",
          listen: "127.0.0.1:9876",
          devices: 4,
          store: { backupPeriod: 700 },
        }),
      );
      expect(parseCommandLine(["--config", file, "--devices", "6"])).toMatchObject({
        mode: "node",
        config: { devices: 6, store: { backupPeriod: 700 } },
      });
      writeFileSync(file, JSON.stringify({ id: "n1", listen: "127.0.0.1:9876", devices: -1 }));
      expect(() => parseCommandLine(["--config", file])).toThrow(/^devices: /);
      writeFileSync(file, "{ not json");
      expect(() => parseCommandLine(["--config", file])).toThrow(ConfigError);
      expect(() => parseCommandLine(["--config", path.join(dir, "missing.json")])).toThrow(
        /cannot read/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("takes --auth user:password (the password may hold ':'), from a flag or the config file", () => {
    expect(parseCommandLine(["--local", "3", "--auth", "admin:pa:ss"])).toMatchObject({
      mode: "local",
      config: { auth: { user: "admin", password: "pa:ss" } },
    });
    expect(() => parseCommandLine(["--local", "3", "--auth", "nopassword"])).toThrow(/^auth: /);
    const dir = mkdtempSync(path.join(os.tmpdir(), "flowstore-config-"));
    try {
      const file = path.join(dir, "node.json");
      writeFileSync(file, JSON.stringify({ local: 1, auth: "onos:rocks" }));
      expect(parseCommandLine(["--config", file])).toMatchObject({
        config: { auth: { user: "onos", password: "rocks" } },
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses --peers without --etcd: separate processes need a coordinator", async () => {
    const result = run(
      "--id",
      "n1",
      "--listen",
      "127.0.0.1:0",
      "--peers",
      "n2=127.0.0.1:1",
      "--rest",
      "127.0.0.1:0",
    );
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("etcd: a node with --peers needs --etcd");
  });
});

describe("a running node", () => {
  it("shuts down gracefully on SIGTERM, logging JSON lines", async () => {
    const child = spawn(
      process.execPath,
      [
        "--conditions=@flowstore/source",
        "--import",
        "tsx",
        path.join(here, "cli.ts"),
        "--id",
        "solo",
        "--listen",
        "127.0.0.1:0",
        "--rest",
        "127.0.0.1:0",
        "--devices",
        "2",
      ],
      { cwd: path.join(here, ".."), stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    const deadline = Date.now() + 30_000;
    while (!output.includes('"msg":"node started"') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(output).toContain('"msg":"node started"');
    const exited = new Promise<number | null>((resolve) =>
      child.once("exit", (code) => resolve(code)),
    );
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    const lines = output
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { msg: string; level: string });
    expect(lines.map((l) => l.msg)).toEqual(expect.arrayContaining(["shutting down", "stopped"]));
  });
});
