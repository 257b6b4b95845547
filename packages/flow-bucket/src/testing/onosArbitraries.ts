import fc from "fast-check";
import { CHANNEL_SPACINGS, GRID_TYPES, OCH_SIGNAL_TYPES, ODU_SIGNAL_TYPES } from "../criterion.js";
import { STAT_TRIGGER_FLAGS } from "../instruction.js";

/**
 * Generators of criteria and instructions in ONOS's REST JSON, as a script would write them:
 * the types beyond the common ones (masked ports, optical, PROTOCOL_INDEPENDENT, STAT_TRIGGER…)
 * and ONOS's lenient spellings (numbers as strings, reserved port names, VLAN ANY/NONE).
 */

const u16 = fc.integer({ min: 0, max: 0xffff });
const asText = <T extends number>(n: fc.Arbitrary<T>) => fc.oneof(n, n.map(String));
const bytes = (min: number, max: number) =>
  fc
    .array(fc.integer({ min: 0, max: 255 }), { minLength: min, maxLength: max })
    .map((b) => b.map((x) => x.toString(16).padStart(2, "0")).join(""));
const hexCase = (text: fc.Arbitrary<string>) =>
  fc.tuple(text, fc.boolean()).map(([t, upper]) => (upper ? t.toUpperCase() : t));
const ochSignal = fc.record({
  gridType: fc.constantFrom(...GRID_TYPES),
  channelSpacing: fc.constantFrom(...CHANNEL_SPACINGS),
  spacingMultiplier: fc.integer({ min: -100, max: 100 }),
  slotGranularity: fc.integer({ min: 1, max: 16 }),
});
const tributary = fc.record({
  tributaryPortNumber: fc.integer({ min: 1, max: 80 }),
  tributarySlotBitmap: fc
    .array(fc.integer({ min: 0, max: 255 }), { minLength: 10, maxLength: 10 })
    .map((b) => b.map((x) => x.toString(16)).join(":")),
});
const fieldId = fc.constantFrom("hdr.ipv4.dst_addr", "ingress_port", "eth_dst", "meta.vrf");
const piMatch = fc.oneof(
  fc.record({ field: fieldId, match: fc.constant("exact"), value: hexCase(bytes(1, 6)) }),
  fc.record({
    field: fieldId,
    match: fc.constant("LPM"),
    value: bytes(4, 4),
    prefixLength: fc.integer({ min: 0, max: 32 }),
  }),
  fc.record({
    field: fieldId,
    match: fc.constant("ternary"),
    value: bytes(2, 2),
    mask: bytes(2, 2),
  }),
  fc.record({
    field: fieldId,
    match: fc.constant("range"),
    lowValue: bytes(2, 2),
    highValue: bytes(2, 2),
  }),
  fc.record({ field: fieldId, match: fc.constant("optional"), value: bytes(1, 2) }),
);

/** One criterion of a type beyond the common ones, in ONOS's JSON. */
export const onosCriterion: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  fc.tuple(asText(u16), asText(u16)).map(([tcpPort, tcpMask]) => ({
    type: "TCP_SRC_MASKED",
    tcpPort,
    tcpMask,
  })),
  fc.tuple(u16, u16).map(([udpPort, udpMask]) => ({ type: "UDP_DST_MASKED", udpPort, udpMask })),
  fc
    .tuple(u16, u16)
    .map(([sctpPort, sctpMask]) => ({ type: "SCTP_SRC_MASKED", sctpPort, sctpMask })),
  asText(fc.integer({ min: 0, max: 0x1ff })).map((exthdrFlags) => ({
    type: "IPV6_EXTHDR",
    exthdrFlags,
  })),
  fc
    .oneof(fc.integer({ min: -1, max: 4096 }), fc.constantFrom("ANY", "NONE", "Any", "None", "7"))
    .map((vlanId) => ({ type: "VLAN_VID", vlanId })),
  fc
    .oneof(fc.integer({ min: -8, max: 64 }), fc.constantFrom("CONTROLLER", "LOCAL", "5"))
    .map((port) => ({ type: "IN_PORT", port })),
  ochSignal.map((ochSignalId) => ({ type: "OCH_SIGID", ochSignalId })),
  fc.constantFrom(...OCH_SIGNAL_TYPES).map((ochSignalType) => ({
    type: "OCH_SIGTYPE",
    ochSignalType,
  })),
  fc.tuple(tributary, fc.integer({ min: 1, max: 80 })).map(([t, tributarySlotLen]) => ({
    type: "ODU_SIGID",
    oduSignalId: { ...t, tributarySlotLen },
  })),
  fc.constantFrom(...ODU_SIGNAL_TYPES).map((oduSignalType) => ({
    type: "ODU_SIGTYPE",
    oduSignalType,
  })),
  fc
    .uniqueArray(piMatch, { minLength: 1, maxLength: 3, selector: (m) => m.field })
    .map((matches) => ({ type: "PROTOCOL_INDEPENDENT", matches })),
  fc
    .tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 32 }))
    .map(([a, n]) => ({
      type: "IPV6_SRC",
      ip: `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}/${n}`,
    })),
);

/** Criteria of distinct types. */
export const onosCriteria = fc.uniqueArray(onosCriterion, {
  maxLength: 4,
  selector: (c) => c.type,
});

const L0 = "L0MODIFICATION";
const L1 = "L1MODIFICATION";
const L2 = "L2MODIFICATION";
const L3 = "L3MODIFICATION";
const PI = "PROTOCOL_INDEPENDENT";

/** One instruction of a type beyond the common ones, in ONOS's JSON. */
export const onosInstruction: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  fc
    .oneof(
      fc.integer({ min: -8, max: 48 }),
      fc.constantFrom("IN_PORT", "TABLE", "NORMAL", "FLOOD", "ALL", "CONTROLLER", "LOCAL", "ANY"),
      fc.constantFrom("[eth1](1)", "[uplink](48)", "0x10", "UNKNOWN(7)"),
    )
    .map((port) => ({ type: "OUTPUT", port })),
  asText(fc.integer({ min: 0, max: 254 })).map((tableId) => ({ type: "TABLE", tableId })),
  asText(fc.integer({ min: 1, max: 9 })).map((meterId) => ({ type: "METER", meterId })),
  fc
    .tuple(fc.nat(), fc.option(fc.oneof(fc.integer({ min: 1, max: 48 }), fc.constant("LOCAL"))))
    .map(([queueId, port]) =>
      port === null ? { type: "QUEUE", queueId } : { type: "QUEUE", queueId, port },
    ),
  fc
    .option(fc.constantFrom("0x8100", "0x88a8", "0x9100"), { nil: undefined })
    .map((ethernetType) =>
      ethernetType === undefined
        ? { type: L2, subtype: "VLAN_PUSH" }
        : { type: L2, subtype: "VLAN_PUSH", ethernetType },
    ),
  fc
    .option(fc.constantFrom("0x0800", "0x86dd", "0x8847"), { nil: undefined })
    .map((ethernetType) =>
      ethernetType === undefined
        ? { type: L2, subtype: "MPLS_POP" }
        : { type: L2, subtype: "MPLS_POP", ethernetType },
    ),
  fc.constant({ type: L2, subtype: "MPLS_PUSH" }),
  fc
    .oneof(fc.integer({ min: 0, max: 4096 }), fc.constantFrom("ANY", "NONE"))
    .map((vlanId) => ({ type: L2, subtype: "VLAN_ID", vlanId })),
  fc.integer({ min: 0, max: 63 }).map((ipDscp) => ({ type: L3, subtype: "IP_DSCP", ipDscp })),
  fc.constantFrom("1.2.3.4", "2001:db8::1").map((ip) => ({ type: L3, subtype: "IPV6_SRC", ip })),
  ochSignal.map((signal) => ({ type: L0, subtype: "OCH", ...signal })),
  fc.tuple(tributary, fc.integer({ min: 1, max: 80 })).map(([t, tributarySlotLength]) => ({
    type: L1,
    subtype: "ODU_SIGID",
    ...t,
    tributarySlotLength,
  })),
  fc
    .tuple(
      fc.constantFrom("set_egress_port", "drop", "ingress.nat"),
      fc.dictionary(fc.constantFrom("port", "mac", "vid"), bytes(1, 4)),
    )
    .map(([actionId, actionParams]) => ({ type: PI, subtype: "ACTION", actionId, actionParams })),
  fc.nat().map((groupId) => ({ type: PI, subtype: "ACTION_PROFILE_GROUP_ID", groupId })),
  fc.nat().map((memberId) => ({ type: PI, subtype: "ACTION_PROFILE_MEMBER_ID", memberId })),
  fc
    .tuple(
      fc.constantFrom(...STAT_TRIGGER_FLAGS),
      fc.uniqueArray(fc.constantFrom("byteCount", "packetCount", "duration"), {
        minLength: 1,
        maxLength: 3,
      }),
      fc.nat(),
    )
    .map(([statTriggerFlag, names, value]) => ({
      type: "STAT_TRIGGER",
      statThreshold: names.map((name) => ({ [name]: value })),
      statTriggerFlag,
    })),
);

/** A treatment in ONOS's JSON, instructions in any order, some deferred. */
export const onosTreatment = fc.record({
  instructions: fc.array(onosInstruction, { maxLength: 5 }),
  deferred: fc.array(onosInstruction, { maxLength: 2 }),
});
