import { z } from "zod";
import {
  colonHexBytes,
  flexibleUint,
  HexBytesSchema,
  hex16ToJson,
  IpPrefixSchema,
  Ipv4AddressSchema,
  Ipv6AddressSchema,
  MacSchema,
  OnosBooleanSchema,
  onosEnum,
  onosInt,
  PortSchema,
  Uint64Schema,
  uint64ToJson,
  VlanIdSchema,
} from "./addresses.js";
import { Interner, recordKey } from "./internal/intern.js";

const field = <T extends string, S extends z.ZodRawShape>(type: T, shape: S) =>
  z.object({ type: z.literal(type), ...shape });

const INT_MAX = 0x7fffffff;
const INT_MIN = -0x80000000;
const u8 = onosInt(0, 0xff);
const u16 = onosInt(0, 0xffff);

/** ONOS's `GridType`. */
export const GRID_TYPES = ["DWDM", "CWDM", "FLEX", "UNKNOWN"] as const;
/** ONOS's `ChannelSpacing`. */
export const CHANNEL_SPACINGS = [
  "CHL_100GHZ",
  "CHL_50GHZ",
  "CHL_25GHZ",
  "CHL_12P5GHZ",
  "CHL_6P25GHZ",
  "CHL_0GHZ",
] as const;
/** ONOS's `OchSignalType`. */
export const OCH_SIGNAL_TYPES = ["FIXED_GRID", "FLEX_GRID"] as const;
/** ONOS's `OduSignalType`. */
export const ODU_SIGNAL_TYPES = [
  "ODU0",
  "ODU1",
  "ODU2",
  "ODU2e",
  "ODU3",
  "ODU4",
  "ODUC1",
  "ODUC2",
  "ODUC3",
  "ODUC4",
  "ODUC5",
  "ODUC6",
  "ODUC7",
  "ODUC8",
  "ODUC9",
] as const;

/** The fields of an optical channel signal (ONOS's `OchSignal`), flat. */
export const ochSignalFields = {
  gridType: onosEnum(GRID_TYPES),
  channelSpacing: onosEnum(CHANNEL_SPACINGS),
  spacingMultiplier: onosInt(INT_MIN, INT_MAX),
  slotGranularity: onosInt(INT_MIN, INT_MAX),
};

/** The most tributary ports or slots of an ODU signal id (ONOS's `OduSignalId`). */
const MAX_TRIBUTARY = 80;
/** The bytes of an ODU tributary slot bitmap. */
const TRIBUTARY_SLOT_BITMAP_BYTES = 10;

const tributary = onosInt(INT_MIN, MAX_TRIBUTARY);
const tributarySlotBitmap = colonHexBytes(TRIBUTARY_SLOT_BITMAP_BYTES);

/**
 * An object field whose members a stored criterion or instruction keeps flat: ONOS nests them
 * (`{"ochSignalId": {"gridType": …}}`), a stored value has them at the top, and the schema takes
 * both (the flat form is what it outputs, read back unchanged).
 */
function nestedOrFlat<T extends string, K extends string, S extends z.ZodRawShape>(
  type: T,
  nested: K,
  shape: S,
) {
  const optional = Object.fromEntries(
    Object.entries(shape).map(([name, schema]) => [name, (schema as z.ZodType).optional()]),
  ) as unknown as { [P in keyof S]: z.ZodOptional<S[P]> };
  const inner = { [nested]: z.object(shape).optional() } as {
    [P in K]: z.ZodOptional<z.ZodObject<S>>;
  };
  return z
    .object({
      type: z.literal(type),
      ...inner,
      ...optional,
    })
    .transform((value, ctx) => {
      const record = value as Record<string, unknown>;
      const inner = record[nested] as Record<string, unknown> | undefined;
      const out: Record<string, unknown> = { type };
      for (const name of Object.keys(shape)) {
        const member = inner === undefined ? record[name] : inner[name];
        if (member === undefined) {
          ctx.addIssue({
            code: "invalid_type",
            expected: "object",
            input: undefined,
            path: inner === undefined ? [nested] : [nested, name],
            message: `${inner === undefined ? nested : name} is required`,
          });
          return z.NEVER;
        }
        out[name] = member;
      }
      return out as { type: T } & z.output<z.ZodObject<S>>;
    });
}

const piField = z.string().min(1, "expected a match field id");

/**
 * One field match of a PROTOCOL_INDEPENDENT criterion, as ONOS prints it; `match` is how it
 * compares the field (ONOS's `PiMatchType`, in lower case).
 */
const PiFieldMatchSchema = z.discriminatedUnion("match", [
  z.object({ field: piField, match: z.literal("exact"), value: HexBytesSchema }),
  z.object({
    field: piField,
    match: z.literal("lpm"),
    value: HexBytesSchema,
    prefixLength: onosInt(0, INT_MAX),
  }),
  z.object({
    field: piField,
    match: z.literal("ternary"),
    value: HexBytesSchema,
    mask: HexBytesSchema,
  }),
  z.object({
    field: piField,
    match: z.literal("range"),
    highValue: HexBytesSchema,
    lowValue: HexBytesSchema,
  }),
  z.object({ field: piField, match: z.literal("optional"), value: HexBytesSchema }),
]);

type PiFieldMatch = z.output<typeof PiFieldMatchSchema>;

/** Field matches in the order ONOS prints a match's members. */
function piMatchJson(match: PiFieldMatch): PiFieldMatch {
  switch (match.match) {
    case "exact":
    case "optional":
      return { field: match.field, match: match.match, value: match.value };
    case "lpm":
      return {
        field: match.field,
        match: match.match,
        value: match.value,
        prefixLength: match.prefixLength,
      };
    case "ternary":
      return { field: match.field, match: match.match, value: match.value, mask: match.mask };
    case "range":
      return {
        field: match.field,
        match: match.match,
        highValue: match.highValue,
        lowValue: match.lowValue,
      };
  }
}

/**
 * The matches of a PROTOCOL_INDEPENDENT criterion: ONOS's array (`match` in any case), or the
 * stored text. Stored as the JSON text of the matches sorted by field, each written as ONOS
 * prints it, so equal criteria have equal text (ONOS compares them as a map by field).
 */
const PiMatchesSchema = z
  .union([
    z.array(z.unknown()),
    z.string().transform((text, ctx) => {
      try {
        const parsed: unknown = JSON.parse(text);
        if (Array.isArray(parsed)) return parsed;
      } catch {}
      ctx.addIssue({ code: "custom", message: "expected an array of field matches" });
      return z.NEVER;
    }),
  ])
  .pipe(
    z.array(
      z.preprocess(
        (item) =>
          typeof item === "object" &&
          item !== null &&
          typeof (item as { match?: unknown }).match === "string"
            ? { ...item, match: (item as { match: string }).match.toLowerCase() }
            : item,
        PiFieldMatchSchema,
      ),
    ),
  )
  .superRefine((matches, ctx) => {
    const seen = new Set<string>();
    matches.forEach((match, index) => {
      if (seen.has(match.field)) {
        ctx.addIssue({
          code: "custom",
          path: [index, "field"],
          message: `field ${match.field} is matched twice`,
        });
      }
      seen.add(match.field);
    });
  })
  .transform((matches) =>
    JSON.stringify(
      [...matches]
        .sort((a, b) => (a.field < b.field ? -1 : a.field > b.field ? 1 : 0))
        .map(piMatchJson),
    ),
  );

const EXTENSION_MESSAGE =
  "EXTENSION criteria are a device driver's binary encoding, which flowstore cannot keep";

/**
 * Schema of one match criterion of a selector, in the JSON shape ONOS's REST API uses
 * (`{"type":"ETH_TYPE","ethType":"0x800"}`), with every type ONOS's criterion codec reads.
 * Normalized: numbers as ONOS reads them (`"2"` is 2), EtherTypes numbers, MAC addresses upper
 * case, IP prefixes without host bits, 64-bit fields `bigint`, ports ONOS's numbers
 * (`CONTROLLER` is -3), nested optical fields flat.
 *
 * @remarks EXTENSION criteria are refused, naming the field: they hold a driver's Kryo bytes.
 */
export const CriterionSchema = z.discriminatedUnion("type", [
  field("IN_PORT", { port: PortSchema }),
  field("IN_PHY_PORT", { port: PortSchema }),
  field("METADATA", { metadata: Uint64Schema }),
  field("ETH_DST", { mac: MacSchema }),
  field("ETH_SRC", { mac: MacSchema }),
  field("ETH_DST_MASKED", { mac: MacSchema, macMask: MacSchema }),
  field("ETH_SRC_MASKED", { mac: MacSchema, macMask: MacSchema }),
  field("ETH_TYPE", { ethType: flexibleUint(0xffff) }),
  field("VLAN_VID", { vlanId: VlanIdSchema }),
  field("VLAN_PCP", { priority: onosInt(0, 7) }),
  field("INNER_VLAN_VID", { innerVlanId: VlanIdSchema }),
  field("INNER_VLAN_PCP", { innerPriority: onosInt(0, 7) }),
  field("IP_DSCP", { ipDscp: onosInt(0, 63) }),
  field("IP_ECN", { ipEcn: onosInt(0, 3) }),
  field("IP_PROTO", { protocol: u8 }),
  field("IPV4_SRC", { ip: IpPrefixSchema }),
  field("IPV4_DST", { ip: IpPrefixSchema }),
  field("TCP_SRC", { tcpPort: u16 }),
  field("TCP_DST", { tcpPort: u16 }),
  field("TCP_SRC_MASKED", { tcpPort: u16, tcpMask: u16 }),
  field("TCP_DST_MASKED", { tcpPort: u16, tcpMask: u16 }),
  field("UDP_SRC", { udpPort: u16 }),
  field("UDP_DST", { udpPort: u16 }),
  field("UDP_SRC_MASKED", { udpPort: u16, udpMask: u16 }),
  field("UDP_DST_MASKED", { udpPort: u16, udpMask: u16 }),
  field("SCTP_SRC", { sctpPort: u16 }),
  field("SCTP_DST", { sctpPort: u16 }),
  field("SCTP_SRC_MASKED", { sctpPort: u16, sctpMask: u16 }),
  field("SCTP_DST_MASKED", { sctpPort: u16, sctpMask: u16 }),
  field("ICMPV4_TYPE", { icmpType: u8 }),
  field("ICMPV4_CODE", { icmpCode: u8 }),
  // IPv6 criteria take IPv4 text as ONOS does (`IpPrefix.valueOf`), and keep it.
  field("IPV6_SRC", { ip: IpPrefixSchema }),
  field("IPV6_DST", { ip: IpPrefixSchema }),
  field("IPV6_FLABEL", { flowLabel: onosInt(0, 0xfffff) }),
  field("ICMPV6_TYPE", { icmpv6Type: u8 }),
  field("ICMPV6_CODE", { icmpv6Code: u8 }),
  field("IPV6_ND_TARGET", { targetAddress: Ipv6AddressSchema }),
  field("IPV6_ND_SLL", { mac: MacSchema }),
  field("IPV6_ND_TLL", { mac: MacSchema }),
  field("MPLS_LABEL", { label: onosInt(0, 0xfffff) }),
  field("MPLS_BOS", { bos: OnosBooleanSchema }),
  field("IPV6_EXTHDR", { exthdrFlags: u16 }),
  field("TUNNEL_ID", { tunnelId: Uint64Schema }),
  field("ARP_OP", { arpOp: u16 }),
  field("ARP_SPA", { ip: Ipv4AddressSchema }),
  field("ARP_TPA", { ip: Ipv4AddressSchema }),
  field("ARP_SHA", { mac: MacSchema }),
  field("ARP_THA", { mac: MacSchema }),
  nestedOrFlat("OCH_SIGID", "ochSignalId", ochSignalFields),
  field("OCH_SIGTYPE", { ochSignalType: onosEnum(OCH_SIGNAL_TYPES) }),
  nestedOrFlat("ODU_SIGID", "oduSignalId", {
    tributaryPortNumber: tributary,
    tributarySlotLen: tributary,
    tributarySlotBitmap,
  }),
  field("ODU_SIGTYPE", { oduSignalType: onosEnum(ODU_SIGNAL_TYPES) }),
  field("PROTOCOL_INDEPENDENT", { matches: PiMatchesSchema }),
  z.object({ type: z.literal("EXTENSION") }).transform((_, ctx) => {
    ctx.addIssue({ code: "custom", path: ["extension"], message: EXTENSION_MESSAGE });
    return z.NEVER;
  }),
]);

/** One match criterion of a selector (normalized; see {@link CriterionSchema}). */
export type Criterion = z.output<typeof CriterionSchema>;

/** The criterion types flowstore understands. */
export type CriterionType = Criterion["type"];

/**
 * A criterion as ONOS's REST API prints it (`EncodeCriterionCodecHelper`): EtherType as
 * `"0x800"`, ports and VLANs as ONOS's numbers (`-3`, `4096`), optical signal ids nested,
 * PROTOCOL_INDEPENDENT matches as an array.
 *
 * @remarks Where ONOS prints less than flowstore keeps, flowstore prints the fields too: the
 * ARP criteria (ONOS prints only their type). 64-bit values are signed as ONOS prints them
 * (2⁶⁴−1 is -1), as a decimal string beyond 2⁵³ (exact in JavaScript, where ONOS prints a number).
 */
export function criterionToJson(criterion: Criterion): Record<string, unknown> {
  switch (criterion.type) {
    case "ETH_TYPE":
      return { type: criterion.type, ethType: hex16ToJson(criterion.ethType) };
    case "METADATA":
      return { type: criterion.type, metadata: uint64ToJson(criterion.metadata) };
    case "TUNNEL_ID":
      return { type: criterion.type, tunnelId: uint64ToJson(criterion.tunnelId) };
    case "OCH_SIGID": {
      const { type, ...ochSignalId } = criterion;
      return { type, ochSignalId };
    }
    case "ODU_SIGID": {
      const { type, ...oduSignalId } = criterion;
      return { type, oduSignalId };
    }
    case "PROTOCOL_INDEPENDENT":
      return { type: criterion.type, matches: JSON.parse(criterion.matches) as unknown };
    default:
      return { ...criterion };
  }
}

/**
 * ONOS's order of criterion types (`Criterion.Type`): a selector prints its criteria in it.
 * Types ONOS has and flowstore does not take (MPLS_TC, PBB_ISID, TCP_FLAGS…) are left out.
 */
const ONOS_ORDER: ReadonlyMap<string, number> = new Map(
  [
    "IN_PORT",
    "IN_PHY_PORT",
    "METADATA",
    "ETH_DST",
    "ETH_DST_MASKED",
    "ETH_SRC",
    "ETH_SRC_MASKED",
    "ETH_TYPE",
    "VLAN_VID",
    "VLAN_PCP",
    "INNER_VLAN_VID",
    "INNER_VLAN_PCP",
    "IP_DSCP",
    "IP_ECN",
    "IP_PROTO",
    "IPV4_SRC",
    "IPV4_DST",
    "TCP_SRC",
    "TCP_SRC_MASKED",
    "TCP_DST",
    "TCP_DST_MASKED",
    "UDP_SRC",
    "UDP_SRC_MASKED",
    "UDP_DST",
    "UDP_DST_MASKED",
    "SCTP_SRC",
    "SCTP_SRC_MASKED",
    "SCTP_DST",
    "SCTP_DST_MASKED",
    "ICMPV4_TYPE",
    "ICMPV4_CODE",
    "ARP_OP",
    "ARP_SPA",
    "ARP_TPA",
    "ARP_SHA",
    "ARP_THA",
    "IPV6_SRC",
    "IPV6_DST",
    "IPV6_FLABEL",
    "ICMPV6_TYPE",
    "ICMPV6_CODE",
    "IPV6_ND_TARGET",
    "IPV6_ND_SLL",
    "IPV6_ND_TLL",
    "MPLS_LABEL",
    "MPLS_BOS",
    "TUNNEL_ID",
    "IPV6_EXTHDR",
    "OCH_SIGID",
    "OCH_SIGTYPE",
    "ODU_SIGID",
    "ODU_SIGTYPE",
    "PROTOCOL_INDEPENDENT",
  ].map((type, rank) => [type, rank]),
);

/**
 * A selector's criteria as ONOS prints them (`TrafficSelectorCodec`): in the order of ONOS's
 * criterion types, each as {@link criterionToJson} writes it.
 */
export function selectorToJson(criteria: readonly Criterion[]): Record<string, unknown>[] {
  const count = criteria.length;
  const out = new Array<Record<string, unknown>>(count);
  const ranks = new Array<number>(count);
  // An insertion sort: a selector has a few criteria, usually almost in order already.
  for (let i = 0; i < count; i++) {
    const criterion = criteria[i] as Criterion;
    const rank = ONOS_ORDER.get(criterion.type) ?? 0;
    let j = i;
    while (j > 0 && (ranks[j - 1] as number) > rank) {
      ranks[j] = ranks[j - 1] as number;
      out[j] = out[j - 1] as Record<string, unknown>;
      j--;
    }
    ranks[j] = rank;
    out[j] = criterionToJson(criterion);
  }
  return out;
}

/** Whether two normalized criteria match the same packets field for field. */
export function criterionEquals(a: Criterion, b: Criterion): boolean {
  if (a === b) return true;
  if (a.type !== b.type) return false;
  const left = a as Readonly<Record<string, unknown>>;
  const right = b as Readonly<Record<string, unknown>>;
  let count = 0;
  for (const key in left) {
    if (left[key] !== right[key]) return false;
    count++;
  }
  for (const _ in right) count--;
  return count === 0;
}

/** A stable text for one criterion, independent of key order: `IPV4_DST{ip=10.0.0.0/24}`. */
export function criterionKey(criterion: Criterion): string {
  return recordKey(criterion);
}

/**
 * Criterion types whose values come from a small set (ports, EtherTypes, VLANs, protocols):
 * rules share one object per value. Addresses and 64-bit values are left unshared.
 */
const SHARED_TYPES: ReadonlySet<CriterionType> = new Set<CriterionType>([
  "IN_PORT",
  "IN_PHY_PORT",
  "ETH_TYPE",
  "VLAN_VID",
  "VLAN_PCP",
  "INNER_VLAN_VID",
  "INNER_VLAN_PCP",
  "IP_DSCP",
  "IP_ECN",
  "IP_PROTO",
  "TCP_SRC",
  "TCP_DST",
  "UDP_SRC",
  "UDP_DST",
  "SCTP_SRC",
  "SCTP_DST",
  "ICMPV4_TYPE",
  "ICMPV4_CODE",
  "ICMPV6_TYPE",
  "ICMPV6_CODE",
  "MPLS_BOS",
  "ARP_OP",
  "OCH_SIGTYPE",
  "ODU_SIGTYPE",
]);

const shared = new Interner<Criterion>(1 << 16);

/** The shared object for a criterion of a small-valued type (given its {@link criterionKey}). */
export function internCriterion(criterion: Criterion, key: string): Criterion {
  return SHARED_TYPES.has(criterion.type) ? shared.intern(key, criterion) : criterion;
}

/** @internal Whether criteria of `type` are shared between rules. */
export function isSharedCriterionType(type: string): boolean {
  return SHARED_TYPES.has(type as CriterionType);
}

/** @internal The shared criterion whose {@link criterionKey} is `key`, if there is one. */
export function sharedCriterion(key: string): Criterion | undefined {
  return shared.get(key);
}
