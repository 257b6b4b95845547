import { nodeId } from "@flowstore/cluster-messaging";
import type { DeviceId } from "@flowstore/flow-bucket";
import { z } from "zod";
import type { HttpContext, ZodApp } from "./context.js";
import { HttpError } from "./errors.js";
import { knownDevice } from "./params.js";
import {
  ErrorSchema,
  MastershipPutBody,
  NoContent,
  RoleInfoSchema,
  RoleSchema,
} from "./schemas.js";

const tags = ["mastership"];
const Id = z.object({ id: z.string() });

/**
 * ONOS's `MastershipWebResource`: a device's local role, master, role info; a node's devices;
 * request, relinquish, set a role, balance. Plus `/mastership/{deviceId}` with the term.
 */
export function mastershipRoutes(app: ZodApp, context: HttpContext): void {
  const { mastership } = context;
  const device = (text: string): DeviceId => knownDevice(context, text);

  app.get(
    "/mastership",
    {
      schema: {
        tags,
        summary: "Balances the masters over the nodes (ONOS: GET)",
        response: { 200: NoContent },
      },
    },
    async (_request, reply) => {
      await mastership.balance();
      return reply.code(200).send();
    },
  );
  app.put(
    "/mastership",
    {
      schema: {
        tags,
        summary: "Sets the role of a node for a device (this node only)",
        body: MastershipPutBody,
        response: { 200: NoContent, 400: ErrorSchema, 404: ErrorSchema },
      },
    },
    async (request, reply) => {
      const { deviceId, nodeId: node, role } = request.body;
      const id = device(deviceId);
      if (node !== context.nodeId) {
        throw new HttpError(
          "INVALID_FIELD",
          `nodeId: only a node's own REST API sets its role; send this to ${node}`,
          { path: "nodeId" },
        );
      }
      if (role === "NONE") await mastership.relinquish(id);
      else await mastership.requestRoleFor(id);
      return reply.code(200).send();
    },
  );
  app.get(
    "/mastership/:id",
    {
      schema: {
        tags,
        summary: "A device's term, master and backups (flowstore)",
        params: Id,
        response: {
          200: z.object({
            term: z.number(),
            master: z.string().nullable(),
            backups: z.array(z.string()),
          }),
          404: ErrorSchema,
        },
      },
    },
    async (request) => {
      const info = mastership.mastership(device(request.params.id));
      return { term: info.term, master: info.master ?? null, backups: [...info.backups] };
    },
  );
  app.get(
    "/mastership/:id/local",
    {
      schema: {
        tags,
        summary: "This node's role for a device",
        params: Id,
        response: { 200: RoleSchema },
      },
    },
    async (request) => ({ role: mastership.role(request.params.id as DeviceId) }),
  );
  app.get(
    "/mastership/:id/master",
    {
      schema: {
        tags,
        summary: "A device's master",
        params: Id,
        response: { 200: z.object({ nodeId: z.string() }), 404: ErrorSchema },
      },
    },
    async (request) => {
      const master = mastership.mastership(request.params.id as DeviceId).master;
      if (master === undefined) throw new HttpError("NOT_FOUND", "Node id is not found");
      return { nodeId: master };
    },
  );
  app.get(
    "/mastership/:id/role",
    {
      schema: {
        tags,
        summary: "A device's master and backups (RoleInfo)",
        params: Id,
        response: { 200: RoleInfoSchema },
      },
    },
    async (request) => {
      const info = mastership.mastership(request.params.id as DeviceId);
      return {
        ...(info.master === undefined ? {} : { master: info.master }),
        ...(info.backups.length === 0 ? {} : { backups: [...info.backups] }),
      };
    },
  );
  app.get(
    "/mastership/:id/device",
    {
      schema: {
        tags,
        summary: "The devices a node masters",
        params: Id,
        response: { 200: z.object({ deviceIds: z.array(z.string()) }) },
      },
    },
    async (request) => {
      let node: ReturnType<typeof nodeId>;
      try {
        node = nodeId(request.params.id);
      } catch {
        return { deviceIds: [] };
      }
      return { deviceIds: [...mastership.mastersOf(node)] };
    },
  );
  for (const method of ["GET", "PUT"] as const) {
    app.route({
      method,
      url: "/mastership/:id/request",
      schema: {
        tags,
        summary: "Makes this node a candidate for a device; answers its role",
        params: Id,
        response: { 200: RoleSchema, 404: ErrorSchema },
      },
      handler: async (request) => {
        const id = device(request.params.id);
        await mastership.requestRoleFor(id);
        return { role: mastership.role(id) };
      },
    });
    app.route({
      method,
      url: "/mastership/:id/relinquish",
      schema: {
        tags,
        summary: "This node gives up a device; 201 with the device's URI",
        params: Id,
        response: { 201: NoContent, 404: ErrorSchema },
      },
      handler: async (request, reply) => {
        const id = device(request.params.id);
        await mastership.relinquish(id);
        return reply.code(201).header("location", id).send();
      },
    });
  }
}
