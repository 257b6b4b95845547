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

  it("stores a rule through the backup node and reads it back from the master", async () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    await import("../examples/basic.js");
    expect(log.mock.calls).toEqual([[["547670265897241: PENDING_ADD"]]]);
  }, 15_000);
});
