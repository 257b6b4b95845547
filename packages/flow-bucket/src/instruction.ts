import { z } from "zod";
import {
  flexibleUint,
  hex16ToJson,
  Ipv4AddressSchema,
  Ipv6AddressSchema,
  MacSchema,
  PortSchema,
  portToJson,
  Uint64Schema,
  uint,
  uint64ToJson,
} from "./addresses.js";

const plain = <T extends string, S extends z.ZodRawShape>(type: T, shape: S) =>
  z.object({ type: z.literal(type), ...shape });

const sub = <T extends string, U extends string, S extends z.ZodRawShape>(
  type: T,
  subtype: U,
  shape: S,
) => z.object({ type: z.literal(type), subtype: z.literal(subtype), ...shape });

const L2 = "L2MODIFICATION";
const L3 = "L3MODIFICATION";
const L4 = "L4MODIFICATION";

/**
 * Schema of one treatment instruction, in the JSON shape of ONOS's REST API
 * (`{"type":"OUTPUT","port":"2"}`, `{"type":"L2MODIFICATION","subtype":"VLAN_ID","vlanId":10}`),
 * normalized like {@link CriterionSchema}: ports become 32-bit numbers (`CONTROLLER` →
 * 0xfffffffd), EtherTypes numbers, MAC addresses upper case.
 */
export const InstructionSchema = z.discriminatedUnion("type", [
  plain("OUTPUT", { port: PortSchema }),
  plain("TABLE", { tableId: uint(0xff) }),
  plain("GROUP", { groupId: uint(0xffffffff) }),
  plain("METER", { meterId: uint(0xffffffff) }),
  plain("QUEUE", { queueId: uint(0xffffffff) }),
  plain("NOACTION", {}),
  z.discriminatedUnion("subtype", [
    sub(L2, "ETH_SRC", { mac: MacSchema }),
    sub(L2, "ETH_DST", { mac: MacSchema }),
    sub(L2, "VLAN_ID", { vlanId: uint(0xfff) }),
    sub(L2, "VLAN_PCP", { vlanPcp: uint(7) }),
    sub(L2, "VLAN_PUSH", {}),
    sub(L2, "VLAN_POP", {}),
    sub(L2, "MPLS_PUSH", { ethernetType: flexibleUint(0xffff) }),
    sub(L2, "MPLS_POP", { ethernetType: flexibleUint(0xffff) }),
    sub(L2, "MPLS_LABEL", { label: uint(0xfffff) }),
    sub(L2, "MPLS_BOS", { bos: z.boolean() }),
    sub(L2, "DEC_MPLS_TTL", {}),
    sub(L2, "TUNNEL_ID", { tunnelId: Uint64Schema }),
  ]),
  z.discriminatedUnion("subtype", [
    sub(L3, "IPV4_SRC", { ip: Ipv4AddressSchema }),
    sub(L3, "IPV4_DST", { ip: Ipv4AddressSchema }),
    sub(L3, "IPV6_SRC", { ip: Ipv6AddressSchema }),
    sub(L3, "IPV6_DST", { ip: Ipv6AddressSchema }),
    sub(L3, "IPV6_FLABEL", { flowLabel: uint(0xfffff) }),
    sub(L3, "DEC_TTL", {}),
    sub(L3, "TTL_OUT", {}),
    sub(L3, "TTL_IN", {}),
  ]),
  z.discriminatedUnion("subtype", [
    sub(L4, "TCP_SRC", { tcpPort: uint(0xffff) }),
    sub(L4, "TCP_DST", { tcpPort: uint(0xffff) }),
    sub(L4, "UDP_SRC", { udpPort: uint(0xffff) }),
    sub(L4, "UDP_DST", { udpPort: uint(0xffff) }),
  ]),
]);

/** One treatment instruction (normalized; see {@link InstructionSchema}). */
export type Instruction = z.output<typeof InstructionSchema>;

/** The instruction types flowstore understands (`L2MODIFICATION` etc. have a `subtype`). */
export type InstructionType = Instruction["type"];

/** An instruction in ONOS's REST output shape (ports as strings or reserved names). */
export function instructionToJson(instruction: Instruction): Record<string, unknown> {
  if (instruction.type === "OUTPUT") return { type: "OUTPUT", port: portToJson(instruction.port) };
  if (instruction.type === L2) {
    switch (instruction.subtype) {
      case "MPLS_PUSH":
      case "MPLS_POP":
        return { ...instruction, ethernetType: hex16ToJson(instruction.ethernetType) };
      case "TUNNEL_ID":
        return { ...instruction, tunnelId: uint64ToJson(instruction.tunnelId) };
      default:
        return { ...instruction };
    }
  }
  return { ...instruction };
}
