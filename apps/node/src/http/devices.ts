import type { DeviceId } from "@flowstore/flow-bucket";
import { z } from "zod";
import type { HttpContext, ZodApp } from "./context.js";
import { knownDevice } from "./params.js";
import {
  DevicePortsSchema,
  DeviceSchema,
  DevicesSchema,
  ErrorSchema,
  PortSchema,
} from "./schemas.js";

const tags = ["devices"];

/** ONOS's `DevicesWebResource` over the simulated devices: list, one, and ports. */
export function deviceRoutes(app: ZodApp, context: HttpContext): void {
  app.get(
    "/devices",
    { schema: { tags, summary: "Every device", response: { 200: DevicesSchema } } },
    async () => ({ devices: context.fleet.ids().map((id) => deviceJson(context, id)) }),
  );
  app.get(
    "/devices/ports",
    {
      schema: {
        tags,
        summary: "Every port of every device",
        response: { 200: z.object({ ports: z.array(PortSchema) }) },
      },
    },
    async () => ({ ports: [] }),
  );
  app.get(
    "/devices/:deviceId",
    {
      schema: {
        tags,
        summary: "One device",
        params: z.object({ deviceId: z.string() }),
        response: { 200: DeviceSchema, 404: ErrorSchema },
      },
    },
    async (request) => deviceJson(context, knownDevice(context, request.params.deviceId)),
  );
  app.get(
    "/devices/:deviceId/ports",
    {
      schema: {
        tags,
        summary: "One device with its ports",
        params: z.object({ deviceId: z.string() }),
        response: { 200: DevicePortsSchema, 404: ErrorSchema },
      },
    },
    // Simulated switches model flow tables, not ports: the list is empty.
    async (request) => ({
      ...deviceJson(context, knownDevice(context, request.params.deviceId)),
      ports: [],
    }),
  );
}

/** A device as ONOS's `DeviceCodec` prints it. */
export function deviceJson(context: HttpContext, id: DeviceId): z.output<typeof DeviceSchema> {
  const available = context.fleet.get(id)?.available ?? false;
  const dpid = id.startsWith("of:") ? id.slice(3).replace(/^0+(?=.)/, "") : id;
  return {
    id,
    type: "SWITCH",
    available,
    role: context.mastership.role(id),
    mfr: "flowstore",
    hw: "simulated switch",
    sw: "flowstore-node",
    serial: id,
    driver: "default",
    chassisId: dpid,
    lastUpdate: String(context.startedAt),
    humanReadableLastUpdate: `${available ? "connected" : "disconnected"} ${since(context.startedAt)} ago`,
    annotations: { protocol: "simulated" },
  };
}

/** `3m4s ago`-style age, as ONOS's `localStatus` prints it. */
export function since(time: number): string {
  const seconds = Math.max(0, Math.round((Date.now() - time) / 1000));
  const m = Math.floor(seconds / 60);
  const h = Math.floor(m / 60);
  if (h > 0) return `${h}h${m % 60}m`;
  if (m > 0) return `${m}m${seconds % 60}s`;
  return `${seconds}s`;
}
