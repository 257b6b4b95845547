import { type Criterion, criterionKey } from "./criterion.js";
import type { ApplicationId, DeviceId, FlowId } from "./ids.js";

const encoder = new TextEncoder();
const TWO_32 = 2 ** 32;

/**
 * The 64-bit FNV-1a hash of `bytes`, as a `bigint`.
 *
 * @remarks Computed on four 16-bit limbs with plain number arithmetic (no `bigint` per byte),
 * so hashing a rule costs well under a microsecond. The same bytes give the same hash in every
 * process, on every platform, forever: flow ids are compared across nodes and stored on disk.
 */
export function fnv1a64(bytes: Uint8Array): bigint {
  const [h0, h1, h2, h3] = fnvLimbs(bytes);
  return (BigInt(h3 * 65536 + h2) << 32n) | BigInt((h1 * 65536 + h0) >>> 0);
}

/** The low 48 bits of {@link fnv1a64} of the UTF-8 bytes of `text`, as a number. */
export function hash48(text: string): number {
  // ASCII (every identity key of a real rule) is hashed straight from the string; anything
  // else through its UTF-8 bytes. Both give the hash of the UTF-8 bytes.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the ASCII range is the point
  const bytes = /^[\x00-\x7f]*$/.test(text) ? text : encoder.encode(text);
  const [h0, h1, h2] = fnvLimbs(bytes);
  return h2 * TWO_32 + ((h1 * 65536 + h0) >>> 0);
}

/** An FNV-1a 64 hash state: four 16-bit limbs, low limb first. */
type FnvState = [number, number, number, number];

/** FNV-1a 64 over `bytes` (or over the char codes of an ASCII string). */
function fnvLimbs(bytes: Uint8Array | string): FnvState {
  // Offset basis 0xcbf29ce484222325, low limb first.
  const state: FnvState = [0x2325, 0x8422, 0x9ce4, 0xcbf2];
  if (typeof bytes === "string") fnvUpdate(state, bytes);
  else for (let i = 0; i < bytes.length; i += 4096) fnvUpdate(state, binary(bytes, i, 4096));
  return state;
}

/** `length` bytes from `start` as a string of char codes 0–255, one per byte. */
function binary(bytes: Uint8Array, start: number, length: number): string {
  return String.fromCharCode(...bytes.subarray(start, start + length));
}

/**
 * Continues the FNV-1a 64 hash in `state` over the char codes of `text` (each below 256: ASCII,
 * or bytes), in place: the one FNV loop, for whole keys and for keys hashed piece by piece.
 */
function fnvUpdate(state: FnvState, text: string): void {
  let h0 = state[0];
  let h1 = state[1];
  let h2 = state[2];
  let h3 = state[3];
  for (let i = 0; i < text.length; i++) {
    h0 ^= text.charCodeAt(i);
    // Multiply by the prime 0x100000001b3 = 2⁴⁰ + 0x1b3 (limbs 0x1b3, 0, 0x100, 0).
    const t0 = h0 * 0x1b3;
    let t1 = h1 * 0x1b3;
    let t2 = h2 * 0x1b3 + h0 * 0x100;
    let t3 = h3 * 0x1b3 + h1 * 0x100;
    t1 += t0 >>> 16;
    h0 = t0 & 0xffff;
    t2 += t1 >>> 16;
    h1 = t1 & 0xffff;
    t3 += t2 >>> 16;
    h2 = t2 & 0xffff;
    h3 = t3 & 0xffff;
  }
  state[0] = h0;
  state[1] = h1;
  state[2] = h2;
  state[3] = h3;
}

/**
 * The canonical text of a rule's identity: device, priority, table and the criteria sorted by
 * type. Two rules with the same identity have the same text, whatever order their criteria
 * were given in.
 */
export function identityKey(
  deviceId: DeviceId,
  priority: number,
  tableId: number,
  criteria: readonly Criterion[],
): string {
  return identityKeyFromKeys(deviceId, priority, tableId, criteria.map(criterionKey));
}

function identityKeyFromKeys(
  deviceId: DeviceId,
  priority: number,
  tableId: number,
  criterionKeys: readonly string[],
): string {
  return JSON.stringify([deviceId, priority, tableId, [...criterionKeys].sort()]);
}

/**
 * The {@link FlowId} of a rule: `appId` in the top 16 bits, the 48-bit hash of its
 * {@link identityKey} below.
 */
export function flowIdOf(
  appId: ApplicationId,
  deviceId: DeviceId,
  priority: number,
  tableId: number,
  criteria: readonly Criterion[],
): FlowId {
  return flowIdFromKeys(appId, deviceId, priority, tableId, criteria.map(criterionKey));
}

/** {@link flowIdOf} from the criteria's {@link criterionKey}s, when the caller has them. */
export function flowIdFromKeys(
  appId: ApplicationId,
  deviceId: DeviceId,
  priority: number,
  tableId: number,
  criterionKeys: readonly string[],
): FlowId {
  const hash = hash48(identityKeyFromKeys(deviceId, priority, tableId, criterionKeys));
  return ((BigInt(appId) << 48n) | BigInt(hash)) as FlowId;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: the ASCII range is the point
const ASCII = /^[\x00-\x7f]*$/;

/**
 * @internal The hash of a rule's {@link identityKey} computed piece by piece, without building
 * the key: `begin(deviceId)` (the `["<device>",` prefix, its hash state cached per device),
 * then `ascii(…)` for each piece of text that follows (`40000,0,["IN_PORT{port=1}"]]`), then
 * `low48()`. The pieces must be ASCII, which every part of a key after the device id is.
 */
export class IdentityHasher {
  readonly #state: FnvState = [0, 0, 0, 0];
  readonly #prefixes = new Map<string, Readonly<FnvState>>();

  /** Starts the hash of a key of `deviceId`'s rules, after its `["<device>",` prefix. */
  begin(deviceId: DeviceId): void {
    let state = this.#prefixes.get(deviceId);
    if (state === undefined) {
      // JSON escaping and UTF-8 as the full key would have them; ASCII from here on.
      const text = `${JSON.stringify([deviceId]).slice(0, -1)},`;
      state = fnvLimbs(ASCII.test(text) ? text : encoder.encode(text));
      if (this.#prefixes.size < 1 << 16) this.#prefixes.set(deviceId, state);
    }
    const into = this.#state;
    into[0] = state[0];
    into[1] = state[1];
    into[2] = state[2];
    into[3] = state[3];
  }

  /** Hashes the characters of `text` (ASCII). */
  ascii(text: string): void {
    fnvUpdate(this.#state, text);
  }

  /** The low 48 bits of the hash so far (what {@link hash48} gives for the whole key). */
  low48(): number {
    const state = this.#state;
    return state[2] * TWO_32 + ((state[1] * 65536 + state[0]) >>> 0);
  }
}

/** Whether `id` is `appId` over the 48-bit identity hash `hash`. */
export function flowIdMatches(id: bigint, appId: number, hash: number): boolean {
  return Number(id >> 48n) === appId && Number(BigInt.asUintN(48, id)) === hash;
}

/** The application id in the top 16 bits of a flow id. */
export function applicationIdOf(id: FlowId): ApplicationId {
  return Number(id >> 48n) as ApplicationId;
}

/** The bucket a flow belongs to: `flowId mod bucketCount`. */
export function bucketOf(id: FlowId, bucketCount: number): number {
  if (!Number.isInteger(bucketCount) || bucketCount < 1) {
    throw new RangeError(`bucket count must be a positive integer, got ${bucketCount}`);
  }
  // For a power of two the low 32 bits decide, which avoids a bigint division.
  if ((bucketCount & (bucketCount - 1)) === 0 && bucketCount <= TWO_32 / 2) {
    return Number(BigInt.asUintN(32, id)) & (bucketCount - 1);
  }
  return Number(id % BigInt(bucketCount));
}
