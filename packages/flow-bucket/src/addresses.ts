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

const freeText = new WeakSet<z.ZodType>();

/**
 * Whether a canonical value of `schema` may be text of the writer's choosing (a port's name),
 * which can hold any character; other canonical values are numbers, addresses or names.
 */
export function holdsFreeText(schema: z.ZodType): boolean {
  return freeText.has(schema);
}

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

/**
 * A flag as ONOS's codecs read one (Jackson's `asBoolean`): `true`/`false`, the strings
 * `"true"`/`"false"`, or 1/0. Anything else is refused (ONOS would read it as false).
 */
export const OnosBooleanSchema = withCanonical(
  z.preprocess((value) => ONOS_FLAGS.get(value) ?? value, z.boolean()),
  (value) => typeof value === "boolean",
);

const ONOS_FLAGS: ReadonlyMap<unknown, boolean> = new Map<unknown, boolean>([
  ["true", true],
  ["false", false],
  [1, true],
  [0, false],
]);

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
const TWO_64 = 2n ** 64n;
const MIN_INT64 = -(2n ** 63n);

/**
 * A 64-bit field (metadata, tunnel id): a `bigint`, a safe integer, or a decimal/0x string.
 * A negative value is read as ONOS, which keeps a Java `long`, prints it: -1 is 2⁶⁴−1. Stored
 * unsigned.
 */
export const Uint64Schema = withCanonical(
  z
    .union([
      z.bigint(),
      z.number().int().min(-Number.MAX_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER),
      z.string().regex(/^(?:-?[0-9]+|0[xX][0-9a-fA-F]+)$/, "expected a decimal or 0x number"),
    ])
    .transform((value) => (typeof value === "bigint" ? value : BigInt(value)))
    .pipe(
      z
        .bigint()
        .min(MIN_INT64, "expected at most 64 bits")
        .max(MAX_UINT64, "expected at most 64 bits"),
    )
    .transform((value) => (value < 0n ? value + TWO_64 : value)),
  (value) => typeof value === "bigint" && value >= 0n && value <= MAX_UINT64,
);

/**
 * A 64-bit value as ONOS prints it, a Java `long` (2⁶⁴−1 is -1): a JSON number when it is exact
 * in JavaScript, a decimal string beyond 2⁵³.
 */
export function uint64ToJson(value: bigint): number | string {
  const signed = value >= 2n ** 63n ? value - TWO_64 : value;
  const safe = BigInt(Number.MAX_SAFE_INTEGER);
  return signed <= safe && signed >= -safe ? Number(signed) : signed.toString();
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

/** A number or a string, saying "required" when there is neither. */
function numberOrText() {
  return z.union([z.number(), z.string()], {
    error: (issue) => (issue.input === undefined ? "required" : "expected a number or a string"),
  });
}

/**
 * Reserved ports, as ONOS numbers them (`PortNumber.Logical`: negative numbers, apart from the
 * physical ports 0…2³²−1), with the names ONOS shows for them.
 */
const LOGICAL_PORTS: ReadonlyMap<string, number> = new Map([
  ["IN_PORT", -8],
  ["TABLE", -7],
  ["NORMAL", -6],
  ["FLOOD", -5],
  ["ALL", -4],
  ["CONTROLLER", -3],
  ["LOCAL", -2],
  ["ANY", -1],
]);
const LOGICAL_PORT_NAMES: ReadonlyMap<number, string> = new Map(
  [...LOGICAL_PORTS].map(([name, number]) => [number, name]),
);

/** The lowest port number: ONOS's `IN_PORT` (-8). */
const MIN_PORT = -8;
/** The highest port number (ONOS's `PortNumber.MAX_NUMBER`). */
const MAX_PORT = 0xffffffff;

const isPortNumber = (value: unknown): value is number =>
  Number.isSafeInteger(value) && (value as number) >= MIN_PORT && (value as number) <= MAX_PORT;

/**
 * A named port as ONOS writes one (`[eth1](1)`): the name, and the number as unsigned decimal
 * with no leading zero. The name has no control characters.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
const NAMED_PORT = /^\[([^\u0000-\u001f\u007f]*)\]\((0|[1-9][0-9]*)\)$/;

/** A named port as ONOS reads one: the number may have leading zeros. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
const NAMED_PORT_TEXT = /^\[([^\u0000-\u001f\u007f]*)\]\(([0-9]+)\)$/;

function isNamedPort(value: unknown): value is string {
  if (typeof value !== "string") return false;
  const match = NAMED_PORT.exec(value);
  return match !== null && Number(match[2]) <= MAX_PORT;
}

const PORT_MESSAGE = `expected a port number (-8…4294967295) or one of ${[...LOGICAL_PORTS.keys()].join(", ")}`;

/**
 * A port number of ONOS's text (`PortNumber.fromString`): a reserved name, an unsigned number
 * in decimal, `0x` hexadecimal or `0` octal (Guava's `UnsignedLongs.decode`), `UNKNOWN(n)`, and
 * with `named`, a named port `[name](n)` (kept as that text). Undefined for anything else.
 */
function portFromText(text: string, named: boolean): number | string | undefined {
  const logical = LOGICAL_PORTS.get(text.toUpperCase());
  if (logical !== undefined) return logical;
  const unknown = /^UNKNOWN\((.*)\)$/.exec(text);
  const digits = unknown === null ? text : (unknown[1] ?? "");
  let value: number | undefined;
  if (/^(?:0|[1-9][0-9]*)$/.test(digits)) value = Number(digits);
  else if (/^(?:0[xX]|#)[0-9a-fA-F]+$/.test(digits))
    value = Number.parseInt(digits.replace("#", "0x"), 16);
  else if (/^0[0-7]+$/.test(digits)) value = Number.parseInt(digits, 8);
  if (value !== undefined) return value <= MAX_PORT ? value : undefined;
  if (!named || unknown !== null) return undefined;
  const match = NAMED_PORT_TEXT.exec(text);
  if (match === null) return undefined;
  const number = Number(match[2]);
  // The number written canonically, so equal ports have equal text.
  return number <= MAX_PORT ? ["[", match[1], "](", number, ")"].join("") : undefined;
}

/**
 * A port number: a JSON number, or text as ONOS reads it — a reserved name (`CONTROLLER`,
 * `FLOOD`, `IN_PORT`, …), decimal, `0x` hexadecimal. Stored as ONOS's number: reserved ports
 * are negative (`CONTROLLER` is -3), physical ones 0…2³²−1.
 */
export const PortSchema = withCanonical(
  numberOrText().transform((value, ctx) => {
    const port = typeof value === "number" ? value : portFromText(value, false);
    if (!isPortNumber(port)) {
      ctx.addIssue({ code: "custom", message: PORT_MESSAGE });
      return z.NEVER;
    }
    return port;
  }),
  isPortNumber,
);

/**
 * A port an instruction sends to: what {@link PortSchema} takes, or a named port as ONOS writes
 * one (`[eth1](1)`), kept as that text so that it prints back the same.
 */
export const OutputPortSchema: z.ZodType<number | string, number | string> = withCanonical(
  numberOrText().transform((value, ctx): number | string => {
    const port = typeof value === "number" ? value : portFromText(value, true);
    if (isPortNumber(port) || isNamedPort(port)) return port;
    ctx.addIssue({ code: "custom", message: `${PORT_MESSAGE}, or a named port [name](number)` });
    return z.NEVER;
  }),
  (value) => isPortNumber(value) || isNamedPort(value),
);
freeText.add(OutputPortSchema);

/**
 * A port as ONOS prints it in an instruction (`PortNumber.toString`): the reserved name, the
 * named port's text, or the unsigned decimal number.
 */
export function portToJson(port: number | string): string {
  if (typeof port === "string") return port;
  return LOGICAL_PORT_NAMES.get(port) ?? String(port);
}

const INTEGER_TEXT = /^-?(?:0|[1-9][0-9]*)$/;

/** Whether `value` is a safe integer in `min`…`max`. */
export function isInt(value: unknown, min: number, max: number): value is number {
  return Number.isSafeInteger(value) && (value as number) >= min && (value as number) <= max;
}

/**
 * An integer field in `min`…`max` as ONOS's codecs read one (Jackson's `asInt`/`asLong`): a
 * JSON number, or a decimal string (`"2"`). Stored as a number.
 */
export function onosInt(min: number, max: number) {
  return withCanonical(
    z.preprocess(
      (value) => (typeof value === "string" && INTEGER_TEXT.test(value) ? Number(value) : value),
      z.number().int().min(min).max(max),
    ),
    (value) => isInt(value, min, max),
  );
}

/**
 * A name from a fixed set (an ONOS enum such as `GridType`): matched ignoring case, stored as
 * ONOS spells it.
 */
export function onosEnum<const T extends readonly [string, ...string[]]>(names: T) {
  const byUpper = new Map<string, T[number]>(names.map((name) => [name.toUpperCase(), name]));
  const known = new Set<unknown>(names);
  return withCanonical(
    z.string().transform((text, ctx): T[number] => {
      const name = byUpper.get(text.toUpperCase());
      if (name !== undefined) return name;
      ctx.addIssue({ code: "custom", message: `expected one of ${names.join(", ")}` });
      return z.NEVER;
    }),
    (value) => known.has(value),
  );
}

/** A field that is `fallback` when absent, with the canonical check of `schema`. */
export function withDefault<S extends z.ZodType>(schema: S, fallback: z.output<S>) {
  const check = canonicalCheckOf(schema);
  return withCanonical(
    schema.optional().transform((value) => (value === undefined ? fallback : value)),
    check,
  );
}

/** VLAN ids with a meaning of their own in ONOS (`VlanId`): no VLAN, and any VLAN. */
const VLAN_NONE = -1;
const VLAN_ANY = 4096;

/**
 * A VLAN id as ONOS reads one: 0…4095, 4096 (`ANY`: tagged with any id) or -1 (`NONE`:
 * untagged; 65535 too, ONOS's 16 bits), as a number, a decimal string, or `"ANY"`/`"NONE"`.
 * Stored as ONOS prints it (`VlanId.toShort()`): -1, 0…4096.
 */
export const VlanIdSchema = withCanonical(
  numberOrText().transform((value, ctx) => {
    let id: number | undefined;
    if (typeof value === "number") id = value;
    else if (/^any$/i.test(value)) id = VLAN_ANY;
    else if (/^none$/i.test(value)) id = VLAN_NONE;
    else if (INTEGER_TEXT.test(value)) id = Number(value);
    if (id === 0xffff) id = VLAN_NONE;
    if (isInt(id, VLAN_NONE, VLAN_ANY)) return id;
    ctx.addIssue({
      code: "custom",
      message: "expected a VLAN id 0…4095, 4096 or ANY, -1 or NONE",
    });
    return z.NEVER;
  }),
  (value) => isInt(value, VLAN_NONE, VLAN_ANY),
);

/**
 * An EtherType of an instruction (`ethernetType`): `"0x8847"` as ONOS writes it, a number, or a
 * decimal string; a negative number is read as ONOS prints a 16-bit `short` (-30649 is 0x8847).
 */
export const EthernetTypeSchema = withCanonical(
  z
    .union([
      z.number(),
      z.string().regex(/^(?:-?[0-9]+|0[xX][0-9a-fA-F]+)$/, "expected an EtherType like 0x8847"),
    ])
    .transform((value) => (typeof value === "number" ? value : Number(value)))
    .pipe(z.number().int().min(-0x8000, "expected an EtherType like 0x8847").max(0xffff))
    .transform((value) => (value < 0 ? value & 0xffff : value)),
  (value) => isUint(value, 0xffff),
);

/** A 16-bit value as ONOS writes a padded EtherType: `0x0800`. */
export function hex16PaddedToJson(value: number): string {
  return `0x${value.toString(16).padStart(4, "0")}`;
}

/** A 16-bit value as Java prints it as a `short`: 0x8847 is -30649. */
export function shortToJson(value: number): number {
  return (value << 16) >> 16;
}

/**
 * Bytes as ONOS's `HexString.fromHexString(text, null)` reads them: two hex digits a byte (a
 * last single digit is a byte of its own). Stored as ONOS prints them back: lower case, two
 * digits a byte (`"0a01"`).
 */
export const HexBytesSchema = withCanonical(
  z.string().transform((text, ctx) => {
    if (!/^[0-9a-fA-F]+$/.test(text)) {
      ctx.addIssue({ code: "custom", message: "expected hexadecimal bytes like 0a010101" });
      return z.NEVER;
    }
    const bytes: string[] = [];
    for (let i = 0; i < text.length; i += 2) bytes.push(text.slice(i, i + 2).padStart(2, "0"));
    return bytes.join("").toLowerCase();
  }),
  (value) => typeof value === "string" && /^(?:[0-9a-f]{2})+$/.test(value),
);

/**
 * `length` bytes as ONOS's `HexString.fromHexString(text)` reads them: 1–2 hex digits each,
 * separated by `:`. Stored as ONOS prints them back (`01:01:…`).
 */
export function colonHexBytes(length: number) {
  const canonical = new RegExp(`^[0-9a-f]{2}(?::[0-9a-f]{2}){${length - 1}}$`);
  return withCanonical(
    z.string().transform((text, ctx) => {
      const octets = text.split(":");
      if (octets.length !== length || !octets.every((o) => /^[0-9a-fA-F]{1,2}$/.test(o))) {
        ctx.addIssue({
          code: "custom",
          message: `expected ${length} hexadecimal bytes separated by colons, like 01:00:…`,
        });
        return z.NEVER;
      }
      return octets.map((o) => o.padStart(2, "0").toLowerCase()).join(":");
    }),
    (value) => typeof value === "string" && canonical.test(value),
  );
}

/**
 * An IP prefix of either version, as ONOS's `IpPrefix.valueOf` takes any in any IP criterion:
 * `10.0.0.0/24` or `2001:db8::/32` (a bare address is a full-length prefix), host bits cleared.
 */
export const IpPrefixSchema = withCanonical(
  z.string().transform((text, ctx) => {
    const normalized = text.includes(":") ? normalizeIpv6Prefix(text) : normalizeIpv4Prefix(text);
    if (normalized === undefined) {
      ctx.addIssue({
        code: "custom",
        message: "expected an IP prefix like 10.0.0.0/24 or 2001:db8::/32",
      });
      return z.NEVER;
    }
    return normalized;
  }),
  (value) =>
    typeof value === "string" &&
    (canonicalIpv4(value, true) || normalizeIpv6Prefix(value) === value),
);

/** An IP address of either version (ONOS's `IpAddress.valueOf`), normalized. */
export const IpAddressSchema = withCanonical(
  z.string().transform((text, ctx) => {
    const v4 = text.includes(":") ? undefined : parseIpv4(text);
    const normalized = v4 !== undefined ? formatIpv4(v4) : normalizeIpv6Address(text);
    if (normalized === undefined) {
      ctx.addIssue({
        code: "custom",
        message: "expected an IP address like 10.0.0.1 or 2001:db8::1",
      });
      return z.NEVER;
    }
    return normalized;
  }),
  (value) =>
    typeof value === "string" &&
    (canonicalIpv4(value, false) || normalizeIpv6Address(value) === value),
);

function normalizeIpv4Prefix(text: string): string | undefined {
  const slash = text.indexOf("/");
  const address = parseIpv4(slash < 0 ? text : text.slice(0, slash));
  const length = slash < 0 ? 32 : parsePrefixLength(text.slice(slash + 1), 32);
  if (address === undefined || length === undefined) return undefined;
  const mask = length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
  return [formatIpv4((address & mask) >>> 0), length].join("/");
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
