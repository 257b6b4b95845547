import { open } from "node:fs/promises";

/** LMDB's magic number, at the start of the meta record of each of its two meta pages. */
const MDB_MAGIC = 0xbeefc0de;
/** The data version of the LMDB built into the `lmdb` package. */
const MDB_DATA_VERSION = 2;
/** Page sizes LMDB may have used (its meta page 1 starts one page in). */
const PAGE_SIZES = [4096, 8192, 16384, 32768, 65536] as const;
/** How far into a meta page its record starts at most (after the page header). */
const MAX_HEADER = 64;

/**
 * Why `bytes` (the start of a data file) is not a file LMDB can open: undefined when both of
 * its meta pages carry LMDB's magic number and the data version this LMDB reads.
 *
 * @remarks The `lmdb` package crashes the process (a segmentation fault, not an exception)
 * when it opens a data file whose meta pages are not LMDB's — garbage, zeros, another file —
 * so a directory is refused on this check before LMDB ever sees it. LMDB trusts the rest of
 * its pages: damage beyond the meta pages is not detected here.
 */
export function whyNotLmdb(bytes: Uint8Array): string | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const word = (offset: number) =>
    offset + 4 <= bytes.length ? view.getUint32(offset, true) : undefined;
  let at = -1;
  for (let offset = 0; offset < MAX_HEADER; offset += 4) {
    if (word(offset) === MDB_MAGIC) {
      at = offset;
      break;
    }
  }
  if (at < 0) return "it is not an LMDB data file (no LMDB magic number in its first page)";
  const version = word(at + 4);
  if (version !== MDB_DATA_VERSION) {
    return `it has LMDB data version ${version}, and this build reads version ${MDB_DATA_VERSION}`;
  }
  const second = PAGE_SIZES.some(
    (size) => word(size + at) === MDB_MAGIC && word(size + at + 4) === MDB_DATA_VERSION,
  );
  return second ? undefined : "its second LMDB meta page is damaged";
}

/** {@link whyNotLmdb} for the data file at `path`, reading only its first pages. */
export async function checkDataFile(path: string): Promise<string | undefined> {
  const file = await open(path, "r");
  try {
    const bytes = new Uint8Array(PAGE_SIZES[PAGE_SIZES.length - 1]! + MAX_HEADER + 8);
    const { bytesRead } = await file.read(bytes, 0, bytes.length, 0);
    return whyNotLmdb(bytes.subarray(0, bytesRead));
  } finally {
    await file.close();
  }
}
