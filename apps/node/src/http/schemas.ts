// The ONOS shapes of the REST API as zod schemas: one definition for validating small
// bodies and parameters, for the handlers' types, and for the OpenAPI document.
import { FlowRuleJsonSchema } from "@flowstore/flow-bucket";
import { z } from "zod";

export const AppIdSchema = z
  .union([z.string(), z.number().int()])
  .describe("An application name (`org.onosproject.rest`) or id 0–65535");

/**
 * A flow rule as `POST /flows/{deviceId}` takes it (flow-bucket's codec, with `appId` as a
 * name or a number). Documentation only: the handler parses it with `parseFlowRule`, the
 * codec's fast path, and reports the first refused field.
 */
export const FlowRuleBody = z
  .object({ ...FlowRuleJsonSchema.shape, appId: AppIdSchema.optional() })
  .describe("A flow rule (ONOS's FlowRuleCodec); appId defaults to org.onosproject.rest");

export const FlowsBatchBody = z.object({ flows: z.array(FlowRuleBody) });

export const FlowRefSchema = z.object({ deviceId: z.string(), flowId: z.string() });
export const FlowRefsSchema = z.object({ flows: z.array(FlowRefSchema) });

/** `DELETE /flows`: the flows to remove (ONOS reads `flowId` as a number or a string). */
export const FlowsDeleteBody = z.object({
  flows: z.array(
    z.object({
      deviceId: z.string().min(1),
      flowId: z.union([z.string().min(1), z.number().int()]),
    }),
  ),
});

export const FlowEntrySchema = z
  .looseObject({
    id: z.string(),
    appId: z.union([z.string(), z.number()]),
    groupId: z.number(),
    priority: z.number(),
    timeout: z.number(),
    isPermanent: z.boolean(),
    deviceId: z.string(),
    tableId: z.union([z.number(), z.string()]),
    tableName: z.string(),
    state: z.enum(["PENDING_ADD", "ADDED", "PENDING_REMOVE", "REMOVED", "FAILED"]),
    life: z.number().describe("Seconds on the device, as last reported (soft state: see packets)"),
    liveType: z.string(),
    lastSeen: z.number().describe("When the device last reported the flow, ms since the epoch"),
    packets: z
      .number()
      .describe(
        "Packets matched, as the device last reported. Counters are soft state: the master " +
          "records each report but does not replicate it to the backups, so after a failover " +
          "the new master shows the counters of the next device report (every stats period)",
      ),
    bytes: z.number().describe("Bytes matched, as the device last reported (soft state)"),
    selector: z.object({ criteria: z.array(z.looseObject({ type: z.string() })) }),
    treatment: z.looseObject({ instructions: z.array(z.looseObject({ type: z.string() })) }),
  })
  .describe("A flow entry (ONOS's FlowEntryCodec)");
export const FlowEntriesSchema = z.object({ flows: z.array(FlowEntrySchema) });

export const DeviceSchema = z.object({
  id: z.string(),
  type: z.string(),
  available: z.boolean(),
  role: z.enum(["MASTER", "STANDBY", "NONE"]),
  mfr: z.string(),
  hw: z.string(),
  sw: z.string(),
  serial: z.string(),
  driver: z.string(),
  chassisId: z.string(),
  lastUpdate: z.string(),
  humanReadableLastUpdate: z.string(),
  annotations: z.record(z.string(), z.string()),
});
export const DevicesSchema = z.object({ devices: z.array(DeviceSchema) });
export const PortSchema = z.object({
  element: z.string(),
  port: z.string(),
  isEnabled: z.boolean(),
  type: z.string(),
  portSpeed: z.number(),
  annotations: z.record(z.string(), z.string()),
});
export const DevicePortsSchema = DeviceSchema.extend({ ports: z.array(PortSchema) });

export const ClusterNodeSchema = z.object({
  id: z.string(),
  ip: z.string(),
  tcpPort: z.number(),
  status: z.enum(["ACTIVE", "INACTIVE"]),
  lastUpdate: z.string(),
  humanReadableLastUpdate: z.string(),
});
export const ClusterSchema = z.object({ nodes: z.array(ClusterNodeSchema) });

export const RoleSchema = z.object({ role: z.enum(["MASTER", "STANDBY", "NONE"]) });
export const RoleInfoSchema = z.object({
  master: z.string().optional(),
  backups: z.array(z.string()).optional(),
});
export const MastershipPutBody = z.object({
  deviceId: z.string().min(1),
  nodeId: z.string().min(1),
  role: z.enum(["MASTER", "STANDBY", "NONE"]),
});

export const ActiveEntriesSchema = z.object({
  statistics: z.array(z.object({ device: z.string(), activeEntries: z.number() })),
});
export const TableStatisticsSchema = z.object({
  statistics: z.array(
    z.object({
      device: z.string(),
      table: z.array(
        z.object({
          tableId: z.string(),
          deviceId: z.string(),
          activeEntries: z.number(),
          packetsLookedUp: z.number(),
          packetsMatched: z.number(),
        }),
      ),
    }),
  ),
});

export const ApplicationIdsSchema = z.object({
  applicationIds: z.array(z.object({ id: z.number(), name: z.string() })),
});

/** An empty answer (204, or a 200/201 without a body). */
export const NoContent = z.void().describe("No body");

export const ErrorSchema = z
  .object({ code: z.number(), message: z.string(), path: z.string().optional() })
  .describe("ONOS's error body: code is the HTTP status; path names the refused field");

export const DeviceParams = z.object({ deviceId: z.string() });
export const IdParams = z.object({ id: z.string() });
