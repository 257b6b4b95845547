import { z } from "zod";

/*
 * Field types of match criteria and instructions, as zod schemas that accept what ONOS's REST
 * API accepts and normalize it to one canonical form, so that two spellings of the same match
 * ("0x800" and 2048, "10.0.0.7/24" and "10.0.0.0/24") give the same rule identity.
 * Every normalization is idempotent: a canonical value parses to itself, which lets the same
 * schemas validate REST input and decoded wire data.
 */

/**
 * Says whether a value is already in the canonical form a field schema outputs: the schema
 * would accept it and give it back unchanged. Decoding uses it to skip zod for data that a
 * node encoded (always canonical), and to fall back to the schema for anything else.
 */
export type CanonicalCheck = (value: unknown) => boolean;

const canonicalChecks = new WeakMap<z.ZodType, CanonicalCheck>();

/** Records `check` as the {@link CanonicalCheck} of `schema`, and returns the schema. */
function withCanonical<S extends z.ZodType>(schema: S, check: CanonicalCheck): S {
  canonicalChecks.set(schema, check);
  return schema;
}

/**
 * The {@link CanonicalCheck} of a field schema of this package: one of the schemas here, or a
 * boolean. Throws for any other schema, so a field type added without one is noticed at once.
 */
export function canonicalCheckOf(schema: z.ZodType): CanonicalCheck {
  const check = canonicalChecks.get(schema);
  if (check !== undefined) return check;
  if (schema.def.type === "boolean") return isBoolean;
  throw new TypeError(`no canonical check for a ${schema.def.type} field`);
}

const isBoolean: CanonicalCheck = (value) => typeof value === "boolean";

/** Whether `value` is a safe integer in 0…`max` (what {@link uint} accepts, unchanged). */
export function isUint(value: unknown, max: number): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0 && (value as number) <= max;
}

/** An unsigned integer field of at most `max`. */
export function uint(max: number): z.ZodNumber {
  return withCanonical(z.number().int().min(0).max(max), (value) => isUint(value, max));
}

/** A number written as a JSON number, a decimal string, or a `0x` hex string (e.g. `"0x800"`). */
export function flexibleUint(max: number) {
  return withCanonical(
    z
      .union([
        z.number(),
        z.string().regex(/^(?:[0-9]+|0[xX][0-9a-fA-F]+)$/, "expected a decimal or 0x number"),
      ])
      .transform((value) => (typeof value === "number" ? value : Number(value)))
      .pipe(uint(max)),
    (value) => isUint(value, max),
  );
}

const MAX_UINT64 = 2n ** 64n - 1n;

/** A 64-bit unsigned field (metadata, tunnel id): a `bigint`, a safe integer, or a decimal/0x string. */
export const Uint64Schema = withCanonical(
  z
    .union([
      z.bigint(),
      z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
      z.string().regex(/^(?:[0-9]+|0[xX][0-9a-fA-F]+)$/, "expected a decimal or 0x number"),
    ])
    .transform((value) => (typeof value === "bigint" ? value : BigInt(value)))
    .pipe(z.bigint().min(0n).max(MAX_UINT64, "expected at most 64 bits")),
  (value) => typeof value === "bigint" && value >= 0n && value <= MAX_UINT64,
);

/** A 64-bit value as JSON shows it: a number when it is exact, a decimal string otherwise. */
export function uint64ToJson(value: bigint): number | string {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
}

/** An EtherType is shown the way ONOS shows it: `0x800`. */
export function hex16ToJson(value: number): string {
  return `0x${value.toString(16)}`;
}

const CANONICAL_MAC = /^[0-9A-F]{2}(?::[0-9A-F]{2}){5}$/;

/** A MAC address `00:1a:2B:…`, normalized to upper case with colons. */
export const MacSchema = withCanonical(
  z
    .string()
    .regex(
      /^[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}$/,
      "expected a MAC address like 00:00:00:00:00:01",
    )
    .transform((mac) => mac.toUpperCase()),
  (value) => typeof value === "string" && CANONICAL_MAC.test(value),
);

/** A dotted IPv4 address `10.0.0.1`. */
export const Ipv4AddressSchema = withCanonical(
  z.string().transform((text, ctx) => {
    const value = parseIpv4(text);
    if (value === undefined) {
      ctx.addIssue({ code: "custom", message: "expected an IPv4 address like 10.0.0.1" });
      return z.NEVER;
    }
    return formatIpv4(value);
  }),
  (value) => typeof value === "string" && canonicalIpv4(value, false),
);

/**
 * An IPv4 prefix `10.0.0.0/24`; a bare address means `/32`. Host bits are cleared, as a
 * switch does, so `10.0.0.7/24` and `10.0.0.0/24` are the same match.
 */
export const Ipv4PrefixSchema = withCanonical(
  z.string().transform((text, ctx) => {
    const slash = text.indexOf("/");
    const address = parseIpv4(slash < 0 ? text : text.slice(0, slash));
    const length = slash < 0 ? 32 : parsePrefixLength(text.slice(slash + 1), 32);
    if (address === undefined || length === undefined) {
      ctx.addIssue({ code: "custom", message: "expected an IPv4 prefix like 10.0.0.0/24" });
      return z.NEVER;
    }
    const mask = length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
    return [formatIpv4((address & mask) >>> 0), length].join("/");
  }),
  (value) => typeof value === "string" && canonicalIpv4(value, true),
);

/** An IPv6 address, normalized to its RFC 5952 text (`2001:db8::1`). */
export const Ipv6AddressSchema = withCanonical(
  z.string().transform((text, ctx) => {
    const normalized = normalizeIpv6Address(text);
    if (normalized === undefined) {
      ctx.addIssue({ code: "custom", message: "expected an IPv6 address like 2001:db8::1" });
      return z.NEVER;
    }
    return normalized;
  }),
  (value) => typeof value === "string" && normalizeIpv6Address(value) === value,
);

/** An IPv6 prefix `2001:db8::/32` (a bare address means `/128`), host bits cleared. */
export const Ipv6PrefixSchema = withCanonical(
  z.string().transform((text, ctx) => {
    const normalized = normalizeIpv6Prefix(text);
    if (normalized === undefined) {
      ctx.addIssue({ code: "custom", message: "expected an IPv6 prefix like 2001:db8::/32" });
      return z.NEVER;
    }
    return normalized;
  }),
  (value) => typeof value === "string" && normalizeIpv6Prefix(value) === value,
);

function normalizeIpv6Address(text: string): string | undefined {
  const words = parseIpv6(text);
  return words === undefined ? undefined : formatIpv6(words);
}

function normalizeIpv6Prefix(text: string): string | undefined {
  const slash = text.indexOf("/");
  const words = parseIpv6(slash < 0 ? text : text.slice(0, slash));
  const length = slash < 0 ? 128 : parsePrefixLength(text.slice(slash + 1), 128);
  if (words === undefined || length === undefined) return undefined;
  for (let i = 0; i < 8; i++) {
    const keep = Math.max(0, Math.min(16, length - i * 16));
    const mask = keep === 0 ? 0 : (0xffff << (16 - keep)) & 0xffff;
    words[i] = (words[i] ?? 0) & mask;
  }
  return [formatIpv6(words), length].join("/");
}

/** Reserved OpenFlow port numbers and the names ONOS shows for them. */
const LOGICAL_PORTS: ReadonlyMap<string, number> = new Map([
  ["IN_PORT", 0xfffffff8],
  ["TABLE", 0xfffffff9],
  ["NORMAL", 0xfffffffa],
  ["FLOOD", 0xfffffffb],
  ["ALL", 0xfffffffc],
  ["CONTROLLER", 0xfffffffd],
  ["LOCAL", 0xfffffffe],
  ["ANY", 0xffffffff],
]);
const LOGICAL_PORT_NAMES: ReadonlyMap<number, string> = new Map(
  [...LOGICAL_PORTS].map(([name, number]) => [number, name]),
);

/**
 * A port number: a JSON number, a decimal string, or a reserved name (`CONTROLLER`, `FLOOD`,
 * `IN_PORT`, …). Stored as the 32-bit OpenFlow number.
 */
export const PortSchema = withCanonical(
  z
    .union([z.number(), z.string()])
    .transform((value, ctx) => {
      if (typeof value === "number") return value;
      const logical = LOGICAL_PORTS.get(value.toUpperCase());
      if (logical !== undefined) return logical;
      if (/^[0-9]+$/.test(value)) return Number(value);
      ctx.addIssue({
        code: "custom",
        message: `expected a port number or one of ${[...LOGICAL_PORTS.keys()].join(", ")}`,
      });
      return z.NEVER;
    })
    .pipe(uint(0xffffffff)),
  (value) => isUint(value, 0xffffffff),
);

/** A port as ONOS shows it in an instruction: the reserved name, or the decimal number as a string. */
export function portToJson(port: number): string {
  return LOGICAL_PORT_NAMES.get(port) ?? String(port);
}

function parseIpv4(text: string): number | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^(?:0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value;
}

// Stored strings are built with `join`, which makes one flat string; concatenation would keep
// a rope of the pieces, several times the size, for every stored address.
function formatIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff].join(".");
}

/**
 * Whether `text` is an IPv4 address (`withLength`: a prefix `a.b.c.d/n` with no host bits) in
 * the exact text the schemas output: decimal parts without leading zeros. One pass over the
 * characters, with none of the allocations of parsing and formatting it again.
 */
function canonicalIpv4(text: string, withLength: boolean): boolean {
  let at = 0;
  let address = 0;
  for (let part = 0; part < 4; part++) {
    const octet = decimalAt(text, at);
    if (octet < 0 || octet > 255) return false;
    address = address * 256 + octet;
    at = decimalEnd;
    if (part < 3) {
      if (text.charCodeAt(at) !== 0x2e) return false; // "."
      at++;
    }
  }
  if (!withLength) return at === text.length;
  if (text.charCodeAt(at) !== 0x2f) return false; // "/"
  const length = decimalAt(text, at + 1);
  if (length < 0 || length > 32 || decimalEnd !== text.length) return false;
  const hostBits = length === 32 ? 0 : 0xffffffff >>> length;
  return (address & hostBits) === 0;
}

/** Where the last {@link decimalAt} stopped. */
let decimalEnd = 0;

/**
 * The value of the decimal number of 1–3 digits (no leading zero, as the parsers require)
 * starting at `at`, or -1; {@link decimalEnd} is set to the index after it.
 */
function decimalAt(text: string, at: number): number {
  let i = at;
  let value = 0;
  while (i < text.length) {
    const digit = text.charCodeAt(i) - 0x30;
    if (digit < 0 || digit > 9) break;
    value = value * 10 + digit;
    i++;
  }
  const digits = i - at;
  if (digits === 0 || digits > 3 || (digits > 1 && text.charCodeAt(at) === 0x30)) return -1;
  decimalEnd = i;
  return value;
}

function parsePrefixLength(text: string, max: number): number | undefined {
  if (!/^(?:0|[1-9][0-9]{0,2})$/.test(text)) return undefined;
  const length = Number(text);
  return length <= max ? length : undefined;
}

/** Eight 16-bit words, or undefined. Accepts `::` compression and a trailing dotted IPv4. */
function parseIpv6(text: string): number[] | undefined {
  if (text.length === 0 || text.length > 45) return undefined;
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const parse = (part: string): number[] | undefined => {
    if (part === "") return [];
    const words: number[] = [];
    const groups = part.split(":");
    for (let i = 0; i < groups.length; i++) {
      const group = groups[i] ?? "";
      if (i === groups.length - 1 && group.includes(".")) {
        const v4 = parseIpv4(group);
        if (v4 === undefined) return undefined;
        words.push(v4 >>> 16, v4 & 0xffff);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(group)) {
        words.push(Number.parseInt(group, 16));
      } else {
        return undefined;
      }
    }
    return words;
  };
  const head = parse(halves[0] ?? "");
  const tail = halves.length === 2 ? parse(halves[1] ?? "") : [];
  if (head === undefined || tail === undefined) return undefined;
  if (halves.length === 1) return head.length === 8 ? head : undefined;
  const missing = 8 - head.length - tail.length;
  if (missing < 1) return undefined;
  return [...head, ...new Array<number>(missing).fill(0), ...tail];
}

/** RFC 5952: lower case, no leading zeros, the longest run (≥ 2) of zero words as `::`. */
function formatIpv6(words: readonly number[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) =>
    words
      .slice(from, to)
      .map((w) => w.toString(16))
      .join(":");
  if (bestStart < 0) return hex(0, 8);
  return [hex(0, bestStart), hex(bestStart + bestLength, 8)].join("::");
}
