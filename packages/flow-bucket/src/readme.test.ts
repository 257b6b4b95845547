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

  it("stores a parsed rule, shows it in ONOS's shape and encodes its bucket", async () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    await import("../examples/basic.js");
    const [summary, json, type] = log.mock.calls;
    expect(summary).toEqual([
      {
        deviceId: "of:0000000000000001",
        term: 1,
        timestamp: 1,
        buckets: 1,
        checksum: expect.any(Number),
      },
    ]);
    expect(json).toEqual([
      expect.objectContaining({
        id: "3455449622707804",
        appId: 12,
        priority: 40000,
        state: "PENDING_ADD",
        selector: {
          criteria: [
            { type: "ETH_TYPE", ethType: "0x800" },
            { type: "IPV4_DST", ip: "10.0.0.1/32" },
          ],
        },
      }),
    ]);
    expect(type).toEqual(["FlowBucket"]);
    expect(log).toHaveBeenCalledTimes(3);
  });
});
