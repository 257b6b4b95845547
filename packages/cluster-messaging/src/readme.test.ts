import { fileURLToPath } from "node:url";
import { readmeExample } from "@flowstore/vitest-config/readme";
import { afterEach, describe, expect, it, vi } from "vitest";

const packageDir = fileURLToPath(new URL("..", import.meta.url));

describe("the README's examples (examples/basic.ts, examples/memoryNetwork.ts)", () => {
  afterEach(() => vi.restoreAllMocks());

  it("are shown in the README as they are in the files", () => {
    const basic = readmeExample(packageDir, "basic.ts");
    const memory = readmeExample(packageDir, "memoryNetwork.ts");
    expect(basic.blocks).toEqual([basic.example, memory.example]);
  });

  it("connects two nodes on loopback and adds over a channel", async () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    await import("../examples/basic.js");
    expect(log.mock.calls).toEqual([[{ type: "NODE_ACTIVE", node: "n2" }], [5]]);
  }, 10_000);

  it("runs the in-memory network in virtual time: a partition convicts, healing revives", async () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    vi.spyOn(console, "error").mockImplementation(() => {}); // the nodes log the conviction
    await import("../examples/memoryNetwork.js");
    expect(log.mock.calls).toEqual([["ACTIVE"], ["INACTIVE"], ["ACTIVE"]]);
  }, 10_000);
});
