import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { crc32, crc32Table } from "./checksum.js";

describe("crc32", () => {
  it("is the CRC-32 of zlib and PNG: 0xcbf43926 for the ASCII digits 1 to 9", () => {
    const digits = new TextEncoder().encode("123456789");
    expect(crc32(digits)).toBe(0xcbf43926);
    expect(crc32Table(digits)).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });

  it("gives the same as the table-driven one on random bytes, and changes with any bit", () => {
    const bytes = randomBytes(10_000);
    const sum = crc32(bytes);
    expect(crc32Table(bytes)).toBe(sum);
    for (const at of [0, 4999, 9999]) {
      const changed = Uint8Array.from(bytes);
      changed[at]! ^= 0x10;
      expect(crc32(changed)).not.toBe(sum);
    }
  });
});
