import fc from "fast-check";
import {
  createFlowEntry,
  FLOW_ENTRY_STATES,
  FLOW_LIVE_TYPES,
  type FlowEntry,
} from "../flowEntry.js";
import { createFlowRule, type FlowRule, type FlowRuleSpec } from "../flowRule.js";

/** Generators of valid flow rules and entries for property tests. */

type CriterionInput = NonNullable<FlowRuleSpec["criteria"]>[number];
type InstructionInput = NonNullable<NonNullable<FlowRuleSpec["treatment"]>["instructions"]>[number];

const octet = fc.integer({ min: 0, max: 255 });
const ipv4 = fc.tuple(octet, octet, octet, octet).map((parts) => parts.join("."));
const prefix = fc
  .tuple(ipv4, fc.integer({ min: 0, max: 32 }))
  .map(([ip, length]) => `${ip}/${length}`);
const mac = fc
  .array(octet, { minLength: 6, maxLength: 6 })
  .map((bytes) => bytes.map((b) => b.toString(16).padStart(2, "0")).join(":"));
const port = fc.oneof(
  fc.integer({ min: 1, max: 48 }),
  fc.constantFrom("CONTROLLER", "FLOOD", "IN_PORT", "LOCAL"),
);

/** One criterion of each kind the generator knows, in ONOS JSON input form. */
export const criterionInput: fc.Arbitrary<CriterionInput> = fc.oneof(
  port.map((p) => ({ type: "IN_PORT" as const, port: p })),
  fc
    .constantFrom("0x800", "0x86dd", "0x806", 2048, "0x88cc")
    .map((ethType) => ({ type: "ETH_TYPE" as const, ethType })),
  mac.map((m) => ({ type: "ETH_DST" as const, mac: m })),
  mac.map((m) => ({ type: "ETH_SRC" as const, mac: m })),
  fc.integer({ min: 0, max: 4095 }).map((vlanId) => ({ type: "VLAN_VID" as const, vlanId })),
  fc.constantFrom(1, 6, 17).map((protocol) => ({ type: "IP_PROTO" as const, protocol })),
  prefix.map((ip) => ({ type: "IPV4_SRC" as const, ip })),
  prefix.map((ip) => ({ type: "IPV4_DST" as const, ip })),
  fc.integer({ min: 0, max: 65535 }).map((tcpPort) => ({ type: "TCP_DST" as const, tcpPort })),
  fc.integer({ min: 0, max: 65535 }).map((udpPort) => ({ type: "UDP_SRC" as const, udpPort })),
  fc
    .bigInt({ min: 0n, max: 2n ** 64n - 1n })
    .map((metadata) => ({ type: "METADATA" as const, metadata })),
);

/** A selector: criteria of distinct types, in random order. */
export const criteriaInput: fc.Arbitrary<CriterionInput[]> = fc.uniqueArray(criterionInput, {
  maxLength: 5,
  selector: (criterion) => criterion.type,
});

/** An instruction in ONOS JSON input form. */
export const instructionInput: fc.Arbitrary<InstructionInput> = fc.oneof(
  port.map((p) => ({ type: "OUTPUT" as const, port: p })),
  fc.integer({ min: 0, max: 255 }).map((tableId) => ({ type: "TABLE" as const, tableId })),
  fc.nat().map((groupId) => ({ type: "GROUP" as const, groupId })),
  fc.constant({ type: "NOACTION" as const }),
  mac.map((m) => ({ type: "L2MODIFICATION" as const, subtype: "ETH_DST" as const, mac: m })),
  fc
    .integer({ min: 0, max: 4095 })
    .map((vlanId) => ({ type: "L2MODIFICATION" as const, subtype: "VLAN_ID" as const, vlanId })),
  fc.constant({ type: "L2MODIFICATION" as const, subtype: "VLAN_POP" as const }),
  ipv4.map((ip) => ({ type: "L3MODIFICATION" as const, subtype: "IPV4_DST" as const, ip })),
  fc.constant({ type: "L3MODIFICATION" as const, subtype: "DEC_TTL" as const }),
  fc
    .integer({ min: 0, max: 65535 })
    .map((tcpPort) => ({ type: "L4MODIFICATION" as const, subtype: "TCP_DST" as const, tcpPort })),
);

/** The fields of a rule on one of a few devices. */
export const ruleSpec = (
  devices: readonly string[] = ["of:0000000000000001", "of:0000000000000002"],
): fc.Arbitrary<FlowRuleSpec> =>
  fc.record({
    deviceId: fc.constantFrom(...devices),
    appId: fc.integer({ min: 0, max: 65535 }),
    priority: fc.integer({ min: 0, max: 65535 }),
    tableId: fc.integer({ min: 0, max: 3 }),
    criteria: criteriaInput,
    treatment: fc.record({ instructions: fc.array(instructionInput, { maxLength: 4 }) }),
    permanent: fc.boolean(),
    timeout: fc.integer({ min: 0, max: 600 }),
  });

/** A valid rule. */
export const flowRule = (devices?: readonly string[]): fc.Arbitrary<FlowRule> =>
  ruleSpec(devices).map(createFlowRule);

/** A valid entry of a valid rule. */
export const flowEntry = (devices?: readonly string[]): fc.Arbitrary<FlowEntry> =>
  fc
    .record({
      rule: flowRule(devices),
      state: fc.constantFrom(...FLOW_ENTRY_STATES),
      packets: fc.nat(),
      bytes: fc.maxSafeNat(),
      life: fc.nat({ max: 1_000_000 }),
      created: fc.integer({ min: 1_500_000_000_000, max: 1_900_000_000_000 }),
      liveType: fc.constantFrom(...FLOW_LIVE_TYPES),
    })
    .map(({ rule, ...init }) => createFlowEntry(rule, { ...init, lastSeen: init.created + 1 }));
