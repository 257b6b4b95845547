import { type DeviceId, DeviceIdSchema, type FlowId, flowId } from "@flowstore/flow-bucket";
import type { HttpContext } from "./context.js";
import { HttpError } from "./errors.js";

/** A device of the fleet, from a path segment; an unknown one is ONOS's 404. */
export function knownDevice(context: Pick<HttpContext, "fleet">, text: string): DeviceId {
  const parsed = DeviceIdSchema.safeParse(text);
  if (!parsed.success || context.fleet.get(parsed.data) === undefined) {
    throw new HttpError("NOT_FOUND", `Device is not found: ${text}`);
  }
  return parsed.data;
}

const TWO_TO_64 = 1n << 64n;

/**
 * A flow id as ONOS prints it: a decimal (or `0x…`) 64-bit number. A negative decimal — a
 * Java `long` — is the same 64 bits read as unsigned.
 */
export function parseFlowId(value: unknown, path = "flowId"): FlowId {
  try {
    if (typeof value === "number" && Number.isSafeInteger(value)) {
      return flowId(value < 0 ? BigInt(value) + TWO_TO_64 : BigInt(value));
    }
    if (typeof value === "string" && /^-\d+$/.test(value)) {
      const n = BigInt(value);
      if (n >= -(1n << 63n)) return flowId(n + TWO_TO_64);
    }
    if (typeof value === "string") return flowId(value);
  } catch {
    // reported below
  }
  throw new HttpError(
    "INVALID_FIELD",
    `${path}: ${JSON.stringify(value)} is not a 64-bit flow id`,
    { path },
  );
}
