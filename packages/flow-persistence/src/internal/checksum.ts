import * as zlib from "node:zlib";

/** The CRC-32 (IEEE, zlib's) of `bytes`, as an unsigned 32-bit integer. */
export const crc32: (bytes: Uint8Array) => number =
  // zlib's own from Node.js 20.15 on; before that, a table-driven one.
  typeof (zlib as { crc32?: unknown }).crc32 === "function"
    ? (bytes) => (zlib as unknown as { crc32(data: Uint8Array): number }).crc32(bytes)
    : crc32Table;

let table: Uint32Array | undefined;

/** {@link crc32} computed a byte at a time from a table (the reference for the tests). */
export function crc32Table(bytes: Uint8Array): number {
  if (table === undefined) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = table[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
