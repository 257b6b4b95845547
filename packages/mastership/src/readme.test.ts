import { fileURLToPath } from "node:url";
import { readmeExample } from "@flowstore/vitest-config/readme";
import { afterEach, describe, expect, it, vi } from "vitest";

const packageDir = fileURLToPath(new URL("..", import.meta.url));
const device = "of:0000000000000001";

describe("the README's examples", () => {
  afterEach(() => vi.restoreAllMocks());

  it("shows examples/embedded.ts, etcd.ts and applications.ts as they are in the files", () => {
    const embedded = readmeExample(packageDir, "embedded.ts");
    const etcd = readmeExample(packageDir, "etcd.ts");
    const applications = readmeExample(packageDir, "applications.ts");
    expect(embedded.blocks).toEqual([embedded.example, etcd.example, applications.example]);
  });

  it("embedded: n1 masters the device, n2 backs it up, both see the activated term", async () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    await import("../examples/embedded.js");
    expect(log.mock.calls).toEqual([
      ["MASTER_CHANGED", device, 1, "n1", []],
      ["BACKUPS_CHANGED", device, 1, "n1", ["n2"]],
      [true],
      [1],
    ]);
  });

  it("applications: a name keeps its id, a new name takes the next one", async () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    await import("../examples/applications.js");
    expect(log.mock.calls).toEqual([
      [1, "org.onosproject.rest"],
      [2, 1],
    ]);
  });
});
