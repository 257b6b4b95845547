import { z } from "zod";
import {
  colonHexBytes,
  EthernetTypeSchema,
  HexBytesSchema,
  hex16PaddedToJson,
  IpAddressSchema,
  MacSchema,
  OnosBooleanSchema,
  OutputPortSchema,
  onosEnum,
  onosInt,
  portToJson,
  shortToJson,
  Uint64Schema,
  uint64ToJson,
  VlanIdSchema,
  withDefault,
} from "./addresses.js";
import { ochSignalFields } from "./criterion.js";

const plain = <T extends string, S extends z.ZodRawShape>(type: T, shape: S) =>
  z.object({ type: z.literal(type), ...shape });

const sub = <T extends string, U extends string, S extends z.ZodRawShape>(
  type: T,
  subtype: U,
  shape: S,
) => z.object({ type: z.literal(type), subtype: z.literal(subtype), ...shape });

const L0 = "L0MODIFICATION";
const L1 = "L1MODIFICATION";
const L2 = "L2MODIFICATION";
const L3 = "L3MODIFICATION";
const L4 = "L4MODIFICATION";
const PI = "PROTOCOL_INDEPENDENT";

const INT_MAX = 0x7fffffff;
const u16 = onosInt(0, 0xffff);
const u32 = onosInt(0, 0xffffffff);

/** EtherTypes ONOS gives a header instruction that names none. */
const ETH_TYPE_MPLS_UNICAST = 0x8847;
const ETH_TYPE_VLAN = 0x8100;

/** The highest meter id ONOS takes (`MeterId.MAX`); meter ids start at 1. */
const MAX_METER_ID = 0xffff0000;

/** ONOS's `StatTriggerFlag`. */
export const STAT_TRIGGER_FLAGS = ["PERIODIC", "ONLY_FIRST"] as const;

/** The thresholds a STAT_TRIGGER instruction takes, in the order ONOS keeps them (`StatTriggerField`). */
const STAT_THRESHOLDS = ["duration", "packetCount", "byteCount"] as const;
type StatThreshold = (typeof STAT_THRESHOLDS)[number];

const statValue = onosInt(0, Number.MAX_SAFE_INTEGER);
/** A threshold in ONOS's array: a JSON number (ONOS skips any other). */
const jsonCount = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/**
 * A STAT_TRIGGER instruction: `statThreshold` is ONOS's array of one-member objects
 * (`[{"byteCount": 1000}]`); stored flat, one optional field per threshold. A threshold given
 * twice, or an entry ONOS would skip (no known member, or a value that is not a number), is
 * refused: ONOS would drop it.
 */
const StatTriggerSchema = z
  .object({
    type: z.literal("STAT_TRIGGER"),
    statTriggerFlag: onosEnum(STAT_TRIGGER_FLAGS),
    statThreshold: z
      .array(
        z
          .record(z.string(), z.unknown())
          .superRefine((entry, ctx) => {
            const keys = Object.keys(entry);
            if (keys.length !== 1 || !STAT_THRESHOLDS.includes(keys[0] as StatThreshold)) {
              ctx.addIssue({
                code: "custom",
                message: `expected one of ${STAT_THRESHOLDS.join(", ")} with a number, as {"byteCount": 1000}`,
              });
            }
          })
          .pipe(
            z.object({
              duration: jsonCount.optional(),
              packetCount: jsonCount.optional(),
              byteCount: jsonCount.optional(),
            }),
          ),
      )
      .optional(),
    // The stored form: the thresholds flat.
    duration: statValue.optional(),
    packetCount: statValue.optional(),
    byteCount: statValue.optional(),
  })
  .transform((value, ctx) => {
    const out: {
      type: "STAT_TRIGGER";
      statTriggerFlag: (typeof STAT_TRIGGER_FLAGS)[number];
      duration?: number;
      packetCount?: number;
      byteCount?: number;
    } = { type: value.type, statTriggerFlag: value.statTriggerFlag };
    const given: Partial<Record<StatThreshold, number>> = {};
    for (const name of STAT_THRESHOLDS) {
      const flat = value[name];
      if (flat !== undefined) given[name] = flat;
    }
    (value.statThreshold ?? []).forEach((entry, index) => {
      for (const name of STAT_THRESHOLDS) {
        const threshold = entry[name];
        if (threshold === undefined) continue;
        if (given[name] !== undefined) {
          ctx.addIssue({
            code: "custom",
            path: ["statThreshold", index, name],
            message: `${name} is given twice`,
          });
        }
        given[name] = threshold;
      }
    });
    for (const name of STAT_THRESHOLDS) {
      const threshold = given[name];
      if (threshold !== undefined) out[name] = threshold;
    }
    if (Object.keys(given).length === 0) {
      ctx.addIssue({
        code: "custom",
        path: ["statThreshold"],
        message: "a STAT_TRIGGER needs at least one threshold",
      });
    }
    return out;
  });

/** The ODU signal id of an L1MODIFICATION: flat in ONOS's input, nested in its output. */
const oduSignalIdFields = {
  tributaryPortNumber: onosInt(-0x80000000, 80),
  tributarySlotLength: onosInt(-0x80000000, 80),
  tributarySlotBitmap: colonHexBytes(10),
};

const OduSignalIdInstructionSchema = z
  .object({
    type: z.literal(L1),
    subtype: z.literal("ODU_SIGID"),
    oduSignalId: z.object(oduSignalIdFields).optional(),
    tributaryPortNumber: oduSignalIdFields.tributaryPortNumber.optional(),
    tributarySlotLength: oduSignalIdFields.tributarySlotLength.optional(),
    tributarySlotBitmap: oduSignalIdFields.tributarySlotBitmap.optional(),
  })
  .transform((value, ctx) => {
    const id = value.oduSignalId ?? value;
    const { tributaryPortNumber, tributarySlotLength, tributarySlotBitmap } = id;
    if (
      tributaryPortNumber === undefined ||
      tributarySlotLength === undefined ||
      tributarySlotBitmap === undefined
    ) {
      const missing =
        tributaryPortNumber === undefined
          ? "tributaryPortNumber"
          : tributarySlotLength === undefined
            ? "tributarySlotLength"
            : "tributarySlotBitmap";
      ctx.addIssue({
        code: "invalid_type",
        expected: "number",
        input: undefined,
        path: [missing],
        message: `${missing} is required`,
      });
      return z.NEVER;
    }
    return {
      type: value.type,
      subtype: value.subtype,
      tributaryPortNumber,
      tributarySlotLength,
      tributarySlotBitmap,
    };
  });

/**
 * The parameters of a protocol-independent action: names to hexadecimal values
 * (`{"port": "01"}`), or the stored text. Stored as JSON text, sorted by name, values as ONOS
 * prints them.
 */
const PiActionParamsSchema = z
  .union([
    z.record(z.string(), z.unknown()),
    z.string().transform((text, ctx) => {
      try {
        const parsed: unknown = JSON.parse(text);
        if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) {
          return parsed as Record<string, unknown>;
        }
      } catch {}
      ctx.addIssue({ code: "custom", message: "expected an object of parameters" });
      return z.NEVER;
    }),
  ])
  .pipe(z.record(z.string(), HexBytesSchema))
  .transform((params) =>
    JSON.stringify(
      Object.fromEntries(Object.entries(params).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
    ),
  );

const EXTENSION_MESSAGE =
  "EXTENSION instructions are decoded by a device driver's codec, which flowstore does not have";

/**
 * Schema of one treatment instruction, in the JSON shape of ONOS's REST API
 * (`{"type":"OUTPUT","port":"2"}`, `{"type":"L2MODIFICATION","subtype":"VLAN_ID","vlanId":10}`),
 * with every type and subtype ONOS's instruction codec reads. Normalized like
 * {@link CriterionSchema}: ports ONOS's numbers (`CONTROLLER` is -3; a named port `[eth1](1)`
 * kept as text), EtherTypes numbers (with ONOS's defaults when absent), MAC addresses upper case.
 *
 * @remarks EXTENSION instructions are refused, naming the field: a device driver decodes them.
 */
export const InstructionSchema = z.discriminatedUnion("type", [
  plain("OUTPUT", { port: OutputPortSchema }),
  plain("TABLE", { tableId: onosInt(0, INT_MAX) }),
  plain("GROUP", { groupId: u32 }),
  plain("METER", { meterId: onosInt(1, MAX_METER_ID) }),
  // ONOS takes a null port as none; the port is kept only when there is one.
  plain("QUEUE", { queueId: u32, port: OutputPortSchema.nullish() }).transform(
    ({ type, queueId, port }): { type: "QUEUE"; queueId: number; port?: number | string } =>
      port === undefined || port === null ? { type, queueId } : { type, queueId, port },
  ),
  plain("NOACTION", {}),
  z.discriminatedUnion("subtype", [sub(L0, "OCH", ochSignalFields)]),
  z.discriminatedUnion("subtype", [OduSignalIdInstructionSchema]),
  z.discriminatedUnion("subtype", [
    sub(L2, "ETH_SRC", { mac: MacSchema }),
    sub(L2, "ETH_DST", { mac: MacSchema }),
    sub(L2, "VLAN_ID", { vlanId: VlanIdSchema }),
    sub(L2, "VLAN_PCP", { vlanPcp: onosInt(0, 7) }),
    sub(L2, "VLAN_PUSH", { ethernetType: withDefault(EthernetTypeSchema, ETH_TYPE_VLAN) }),
    sub(L2, "VLAN_POP", {}),
    sub(L2, "MPLS_PUSH", {
      ethernetType: withDefault(EthernetTypeSchema, ETH_TYPE_MPLS_UNICAST),
    }),
    sub(L2, "MPLS_POP", {
      ethernetType: withDefault(EthernetTypeSchema, ETH_TYPE_MPLS_UNICAST),
    }),
    sub(L2, "MPLS_LABEL", { label: onosInt(0, 0xfffff) }),
    sub(L2, "MPLS_BOS", { bos: OnosBooleanSchema }),
    sub(L2, "DEC_MPLS_TTL", {}),
    sub(L2, "TUNNEL_ID", { tunnelId: Uint64Schema }),
  ]),
  z.discriminatedUnion("subtype", [
    // Either version in either field, as ONOS takes it (`IpAddress.valueOf`).
    sub(L3, "IPV4_SRC", { ip: IpAddressSchema }),
    sub(L3, "IPV4_DST", { ip: IpAddressSchema }),
    sub(L3, "IPV6_SRC", { ip: IpAddressSchema }),
    sub(L3, "IPV6_DST", { ip: IpAddressSchema }),
    sub(L3, "IPV6_FLABEL", { flowLabel: onosInt(0, 0xfffff) }),
    sub(L3, "IP_DSCP", { ipDscp: onosInt(-128, 127) }),
    sub(L3, "DEC_TTL", {}),
    sub(L3, "TTL_OUT", {}),
    sub(L3, "TTL_IN", {}),
  ]),
  z.discriminatedUnion("subtype", [
    sub(L4, "TCP_SRC", { tcpPort: u16 }),
    sub(L4, "TCP_DST", { tcpPort: u16 }),
    sub(L4, "UDP_SRC", { udpPort: u16 }),
    sub(L4, "UDP_DST", { udpPort: u16 }),
  ]),
  z.discriminatedUnion("subtype", [
    sub(PI, "ACTION", {
      actionId: z.string().min(1, "expected an action id"),
      actionParams: PiActionParamsSchema.default("{}"),
    }),
    sub(PI, "ACTION_PROFILE_GROUP_ID", { groupId: onosInt(-0x80000000, INT_MAX) }),
    sub(PI, "ACTION_PROFILE_MEMBER_ID", { memberId: onosInt(-0x80000000, INT_MAX) }),
  ]),
  StatTriggerSchema,
  z.object({ type: z.literal("EXTENSION") }).transform((_, ctx) => {
    ctx.addIssue({ code: "custom", path: ["extension"], message: EXTENSION_MESSAGE });
    return z.NEVER;
  }),
]);

/** One treatment instruction (normalized; see {@link InstructionSchema}). */
export type Instruction = z.output<typeof InstructionSchema>;

/** The instruction types flowstore understands (`L2MODIFICATION` etc. have a `subtype`). */
export type InstructionType = Instruction["type"];

/**
 * An instruction as ONOS's REST API prints it (`EncodeInstructionCodecHelper`): OUTPUT and
 * QUEUE ports as text (`"CONTROLLER"`, `"2"`), TABLE ids as text, METER ids in hexadecimal text
 * (ONOS's `MeterId.toString()`: meter 16 is `"10"`), VLAN_PUSH and MPLS_POP EtherTypes as
 * `"0x8100"`, MPLS_PUSH's as a signed 16-bit number (`-30649`), the ODU signal id nested.
 *
 * @remarks ONOS prints a STAT_TRIGGER as its type alone; flowstore prints its flag and
 * thresholds too, in the shape ONOS reads them.
 */
export function instructionToJson(instruction: Instruction): Record<string, unknown> {
  switch (instruction.type) {
    case "OUTPUT":
      return { type: "OUTPUT", port: portToJson(instruction.port) };
    case "TABLE":
      return { type: "TABLE", tableId: String(instruction.tableId) };
    case "METER":
      return { type: "METER", meterId: instruction.meterId.toString(16) };
    case "QUEUE":
      return instruction.port === undefined
        ? { type: "QUEUE", queueId: instruction.queueId }
        : { type: "QUEUE", queueId: instruction.queueId, port: portToJson(instruction.port) };
    case L1: {
      const { type, subtype, ...oduSignalId } = instruction;
      return { type, subtype, oduSignalId };
    }
    case L2:
      switch (instruction.subtype) {
        case "VLAN_PUSH":
        case "MPLS_POP":
          return { ...instruction, ethernetType: hex16PaddedToJson(instruction.ethernetType) };
        case "MPLS_PUSH":
          return { ...instruction, ethernetType: shortToJson(instruction.ethernetType) };
        case "TUNNEL_ID":
          return { ...instruction, tunnelId: uint64ToJson(instruction.tunnelId) };
        default:
          return { ...instruction };
      }
    case PI:
      if (instruction.subtype === "ACTION") {
        return { ...instruction, actionParams: JSON.parse(instruction.actionParams) as unknown };
      }
      return { ...instruction };
    case "STAT_TRIGGER": {
      const statThreshold = STAT_THRESHOLDS.flatMap((name) => {
        const value = instruction[name];
        return value === undefined ? [] : [{ [name]: value }];
      });
      return {
        type: instruction.type,
        statThreshold,
        statTriggerFlag: instruction.statTriggerFlag,
      };
    }
    default:
      return { ...instruction };
  }
}
