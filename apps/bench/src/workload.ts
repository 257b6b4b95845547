import { createFlowRule, type DeviceId, deviceId, type FlowRule } from "@flowstore/flow-bucket";

/** Simulated switch `n`: `of:000…0n`. */
export function benchDevice(n: number): DeviceId {
  return deviceId(`of:${n.toString(16).padStart(16, "0")}`);
}

/**
 * Rule `i` of `device`: a typical rule of a device with many host routes — in port, IPv4, a
 * /32 destination of its own, one output port. Every scenario uses this shape, so their
 * figures compare.
 */
export function benchRule(device: DeviceId, i: number): FlowRule {
  return createFlowRule({
    deviceId: device,
    appId: 23,
    priority: 40000 + (i % 100),
    criteria: [
      { type: "IN_PORT", port: 1 + (i % 48) },
      { type: "ETH_TYPE", ethType: "0x800" },
      { type: "IPV4_DST", ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32` },
    ],
    treatment: { instructions: [{ type: "OUTPUT", port: 1 + ((i * 7) % 48) }] },
  });
}

/** Rules `offset` … `offset + count − 1` of `device`. */
export function benchRules(device: DeviceId, count: number, offset = 0): FlowRule[] {
  const out = new Array<FlowRule>(count);
  for (let i = 0; i < count; i++) out[i] = benchRule(device, offset + i);
  return out;
}
