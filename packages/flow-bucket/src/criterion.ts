import { z } from "zod";
import {
  flexibleUint,
  hex16ToJson,
  Ipv4AddressSchema,
  Ipv4PrefixSchema,
  Ipv6AddressSchema,
  Ipv6PrefixSchema,
  MacSchema,
  PortSchema,
  Uint64Schema,
  uint,
  uint64ToJson,
} from "./addresses.js";
import { Interner, recordKey } from "./intern.js";

const field = <T extends string, S extends z.ZodRawShape>(type: T, shape: S) =>
  z.object({ type: z.literal(type), ...shape });

/**
 * Schema of one match criterion of a selector, in the JSON shape ONOS's REST API uses
 * (`{"type":"ETH_TYPE","ethType":"0x800"}`), normalized: EtherTypes become numbers, MAC
 * addresses upper case, IP prefixes lose their host bits, 64-bit fields become `bigint`.
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
  field("VLAN_VID", { vlanId: uint(0xfff) }),
  field("VLAN_PCP", { priority: uint(7) }),
  field("INNER_VLAN_VID", { innerVlanId: uint(0xfff) }),
  field("INNER_VLAN_PCP", { innerPriority: uint(7) }),
  field("IP_DSCP", { ipDscp: uint(63) }),
  field("IP_ECN", { ipEcn: uint(3) }),
  field("IP_PROTO", { protocol: uint(255) }),
  field("IPV4_SRC", { ip: Ipv4PrefixSchema }),
  field("IPV4_DST", { ip: Ipv4PrefixSchema }),
  field("TCP_SRC", { tcpPort: uint(0xffff) }),
  field("TCP_DST", { tcpPort: uint(0xffff) }),
  field("UDP_SRC", { udpPort: uint(0xffff) }),
  field("UDP_DST", { udpPort: uint(0xffff) }),
  field("SCTP_SRC", { sctpPort: uint(0xffff) }),
  field("SCTP_DST", { sctpPort: uint(0xffff) }),
  field("ICMPV4_TYPE", { icmpType: uint(255) }),
  field("ICMPV4_CODE", { icmpCode: uint(255) }),
  field("IPV6_SRC", { ip: Ipv6PrefixSchema }),
  field("IPV6_DST", { ip: Ipv6PrefixSchema }),
  field("IPV6_FLABEL", { flowLabel: uint(0xfffff) }),
  field("ICMPV6_TYPE", { icmpv6Type: uint(255) }),
  field("ICMPV6_CODE", { icmpv6Code: uint(255) }),
  field("IPV6_ND_TARGET", { targetAddress: Ipv6AddressSchema }),
  field("IPV6_ND_SLL", { mac: MacSchema }),
  field("IPV6_ND_TLL", { mac: MacSchema }),
  field("MPLS_LABEL", { label: uint(0xfffff) }),
  field("MPLS_BOS", { bos: z.boolean() }),
  field("TUNNEL_ID", { tunnelId: Uint64Schema }),
  field("ARP_OP", { arpOp: uint(0xffff) }),
  field("ARP_SPA", { ip: Ipv4AddressSchema }),
  field("ARP_TPA", { ip: Ipv4AddressSchema }),
  field("ARP_SHA", { mac: MacSchema }),
  field("ARP_THA", { mac: MacSchema }),
]);

/** One match criterion of a selector (normalized; see {@link CriterionSchema}). */
export type Criterion = z.output<typeof CriterionSchema>;

/** The criterion types flowstore understands. */
export type CriterionType = Criterion["type"];

/** A criterion in ONOS's REST output shape (EtherType as `"0x800"`, 64-bit fields as numbers or strings). */
export function criterionToJson(criterion: Criterion): Record<string, unknown> {
  switch (criterion.type) {
    case "ETH_TYPE":
      return { type: criterion.type, ethType: hex16ToJson(criterion.ethType) };
    case "METADATA":
      return { type: criterion.type, metadata: uint64ToJson(criterion.metadata) };
    case "TUNNEL_ID":
      return { type: criterion.type, tunnelId: uint64ToJson(criterion.tunnelId) };
    default:
      return { ...criterion };
  }
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
