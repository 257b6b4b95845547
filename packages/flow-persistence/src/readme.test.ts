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

  it("stores a flow, and loads it back with its term and the metadata", async () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    await import("../examples/basic.js");
    expect(log.mock.calls).toEqual([
      ["of:0000000000000001", 3, [expect.stringMatching(/^\d+: 1$/)]],
      [3, "14841639068965178418"],
    ]);
  });
});
