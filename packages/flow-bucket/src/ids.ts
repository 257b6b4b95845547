import { z } from "zod";
import { flat } from "./internal/intern.js";

/** The id of one network device (switch), e.g. `of:0000000000000001`. */
export type DeviceId = string & { readonly __brand: "DeviceId" };

/**
 * The 64-bit id of a flow rule: the application id in the top 16 bits, a stable 48-bit hash
 * of the rule's identity (device, priority, selector, table) below.
 *
 * @remarks A `bigint` so no bit is ever lost; always in 0…2⁶⁴−1. See {@link flowIdOf}.
 */
export type FlowId = bigint & { readonly __brand: "FlowId" };

/** A 16-bit application id: the application that owns a flow rule (0…65535). */
export type ApplicationId = number & { readonly __brand: "ApplicationId" };

/** The largest {@link ApplicationId}. */
export const MAX_APPLICATION_ID = 0xffff;

const DEVICE_ID = /^[^\s]{1,255}$/;

/** Schema of a device id: 1–255 printable characters with no whitespace. */
export const DeviceIdSchema = z
  .string()
  .regex(DEVICE_ID, "a device id is 1–255 characters with no whitespace")
  .transform((id) => id as DeviceId);

/** Schema of a flow id: an unsigned 64-bit `bigint`. */
export const FlowIdSchema = z
  .bigint()
  .min(0n, "a flow id is not negative")
  .max(2n ** 64n - 1n, "a flow id fits in 64 bits")
  .transform((id) => id as FlowId);

/** Schema of an application id: an integer in 0…65535. */
export const ApplicationIdSchema = z
  .number()
  .int()
  .min(0)
  .max(MAX_APPLICATION_ID)
  .transform((id) => id as ApplicationId);

const deviceIds = new Map<string, DeviceId>();

/**
 * The one shared string for a device id, so that the rules of a device (parsed from JSON or
 * decoded from the network, each with its own copy) hold one string between them. At most
 * 2¹⁶ ids are kept; beyond that `id` is returned as it is.
 */
export function internDeviceId(id: DeviceId): DeviceId {
  const shared = deviceIds.get(id);
  if (shared !== undefined) return shared;
  if (deviceIds.size >= 1 << 16) return id;
  // A copy: a decoded string may be a slice of a whole message, which the table would keep.
  const copy = flat(id) as DeviceId;
  deviceIds.set(copy, copy);
  return copy;
}

/**
 * @internal The shared {@link DeviceId} for `value` if it is a valid device id (what
 * {@link DeviceIdSchema} accepts), else undefined. An id seen before costs one map lookup.
 */
export function deviceIdOrUndefined(value: unknown): DeviceId | undefined {
  if (typeof value !== "string") return undefined;
  const shared = deviceIds.get(value);
  if (shared !== undefined) return shared;
  return DEVICE_ID.test(value) ? internDeviceId(value as DeviceId) : undefined;
}

/** `id` as a {@link DeviceId}, or a `TypeError` saying why it is not one. */
export function deviceId(id: string): DeviceId {
  return brand(DeviceIdSchema, id, "device id");
}

/**
 * `id` as a {@link FlowId}. Accepts a `bigint`, or a decimal or `0x` hexadecimal string (the
 * REST API shows flow ids as decimal strings); a `TypeError` for anything else.
 */
export function flowId(id: bigint | string): FlowId {
  let value: bigint;
  if (typeof id === "bigint") value = id;
  else if (/^(?:0|[1-9][0-9]*|0x[0-9a-fA-F]+)$/.test(id)) value = BigInt(id);
  else throw new TypeError(`invalid flow id ${JSON.stringify(id)}: not a decimal or 0x number`);
  return brand(FlowIdSchema, value, "flow id");
}

/** `id` as an {@link ApplicationId}, or a `TypeError` if it is not an integer in 0…65535. */
export function applicationId(id: number): ApplicationId {
  return brand(ApplicationIdSchema, id, "application id");
}

function brand<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const shown = typeof value === "bigint" ? `${value}` : JSON.stringify(value);
  throw new TypeError(`invalid ${what} ${shown}: ${parsed.error.issues[0]?.message}`);
}
