import { fileURLToPath } from "node:url";
import { readmeExample } from "@flowstore/vitest-config/readme";
import { afterEach, describe, expect, it, vi } from "vitest";

const packageDir = fileURLToPath(new URL("..", import.meta.url));

describe("the README's example (examples/basic.ts)", () => {
  afterEach(() => vi.restoreAllMocks());

  it("is shown in the README as it is in the file", () => {
    const { example, blocks } = readmeExample(packageDir, "basic.ts");
    expect(blocks[0]).toBe(example);
  });

  it("connects two nodes on loopback and adds over a channel", async () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    await import("../examples/basic.js");
    expect(log.mock.calls).toEqual([[{ type: "NODE_ACTIVE", node: "n2" }], [5]]);
  }, 10_000);
});
