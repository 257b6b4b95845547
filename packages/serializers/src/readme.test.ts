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

  it("prints what its comments say", async () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    await import("../examples/basic.js");
    expect(log.mock.calls).toEqual([
      [{ bucket: 3, term: 9223372036854775808n }],
      [{ type: "Digest", value: { bucket: 3, term: 2n ** 63n } }],
      [expect.stringMatching(/^[0-9a-f]{16}$/)],
      ["WRONG_TYPE"],
    ]);
  });
});
