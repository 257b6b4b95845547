import { Readable } from "node:stream";
import type { FlowRuleOperation } from "@flowstore/ec-flow-store";
import {
  type DeviceId,
  type FlowEntry,
  type FlowId,
  type FlowRule,
  parseFlowRule,
} from "@flowstore/flow-bucket";
import { REST_APPLICATION } from "@flowstore/mastership";
import type { FastifyReply } from "fastify";
import { z } from "zod";
import { appIdNow, isObject, registerNames, resolveAppId } from "./applications.js";
import type { HttpContext, ZodApp } from "./context.js";
import { HttpError } from "./errors.js";

import { flowsJsonChunks } from "./flowJson.js";
import { knownDevice, parseFlowId } from "./params.js";
import {
  AppIdSchema,
  ErrorSchema,
  FlowEntriesSchema,
  FlowRefsSchema,
  FlowRuleBody,
  FlowsBatchBody,
  FlowsDeleteBody,
  NoContent,
} from "./schemas.js";

/** The answer header that says a write was acknowledged by fewer backups than asked for. */
export const REPLICATION_HEADER = "x-flowstore-replication";

/** Flow bodies are parsed by flow-bucket's codec in the handler; the schema documents them. */
const documentedOnly = () => (data: unknown) => ({ value: data });

const AppQuery = z.object({ appId: AppIdSchema.optional() });
const tags = ["flows"];

/**
 * ONOS's `FlowsWebResource`: list (all, pending, by table, by application, by device, one),
 * add (one, a batch), remove (one, a batch, by application).
 */
export function flowRoutes(app: ZodApp, context: HttpContext): void {
  const { store, fleet } = context;

  app.get(
    "/flows",
    { schema: { tags, summary: "Every flow entry", response: { 200: FlowEntriesSchema } } },
    (_request, reply) => {
      sendFlows(reply, allPages());
    },
  );
  app.get(
    "/flows/pending",
    {
      schema: {
        tags,
        summary: "Flow entries pending add or remove",
        response: { 200: FlowEntriesSchema },
      },
    },
    (_request, reply) => {
      sendFlows(
        reply,
        allPages(),
        (e) => e.state === "PENDING_ADD" || e.state === "PENDING_REMOVE",
      );
    },
  );
  app.get(
    "/flows/table/:tableId",
    {
      schema: {
        tags,
        summary: "Flow entries of one table",
        params: z.object({ tableId: z.string() }),
        response: { 200: FlowEntriesSchema },
      },
    },
    (request, reply) => {
      const table = request.params.tableId;
      sendFlows(reply, allPages(), (e) => String(e.rule.tableId) === table);
    },
  );
  app.get(
    "/flows/application/:appId",
    {
      schema: {
        tags,
        summary: "Flow entries of one application",
        params: z.object({ appId: z.string() }),
        response: { 200: FlowEntriesSchema, 404: ErrorSchema },
      },
    },
    (request, reply) => {
      const appId = existingApp(request.params.appId);
      sendFlows(reply, allPages(), (e) => e.rule.appId === appId);
    },
  );
  app.delete(
    "/flows/application/:appId",
    {
      schema: {
        tags,
        summary: "Removes every flow of one application",
        params: z.object({ appId: z.string() }),
        response: { 204: NoContent, 404: ErrorSchema },
      },
    },
    async (request, reply) => {
      const appId = existingApp(request.params.appId);
      await Promise.all(
        fleet.ids().map(async (device) => {
          const entries = (await store.getFlowEntries(device)).filter(
            (e) => e.rule.appId === appId,
          );
          await remove(device, entries, reply);
        }),
      );
      return reply.code(204).send();
    },
  );
  app.get(
    "/flows/:deviceId",
    {
      schema: {
        tags,
        summary: "Flow entries of one device",
        params: z.object({ deviceId: z.string() }),
        response: { 200: FlowEntriesSchema, 404: ErrorSchema },
      },
    },
    (request, reply) => {
      sendFlows(reply, devicePages(knownDevice(context, request.params.deviceId)));
    },
  );
  app.get(
    "/flows/:deviceId/:flowId",
    {
      schema: {
        tags,
        summary: "One flow entry (an empty list when the device has no such flow)",
        params: z.object({ deviceId: z.string(), flowId: z.string() }),
        response: { 200: FlowEntriesSchema, 404: ErrorSchema },
      },
    },
    (request, reply) => {
      const device = knownDevice(context, request.params.deviceId);
      const id = parseFlowId(request.params.flowId);
      sendFlows(reply, entryPage(device, id));
    },
  );
  app.post(
    "/flows/:deviceId",
    {
      schema: {
        tags,
        summary: "Adds a flow rule to a device; 201 with its Location",
        params: z.object({ deviceId: z.string() }),
        querystring: AppQuery,
        body: FlowRuleBody,
        response: { 201: FlowRefsSchema, 400: ErrorSchema, 404: ErrorSchema },
      },
      validatorCompiler: ({ httpPart }) =>
        httpPart === "body" ? documentedOnly() : (data) => ({ value: data }),
    },
    async (request, reply) => {
      const device = knownDevice(context, request.params.deviceId);
      const body: unknown = request.body;
      if (!isObject(body)) {
        throw new HttpError("INVALID_BODY", "the body must be a JSON object: a flow rule");
      }
      const query = request.query as { appId?: string };
      const appId = await resolveAppId(context, query.appId ?? body.appId);
      const rule = parseFlowRule(withoutAppId(body), { deviceId: device, appId });
      await storeBatch(device, [{ operator: "ADD", rule }], reply);
      const location = `${request.protocol}://${request.host}/onos/v1/flows/${device}/${rule.id}`;
      return reply
        .code(201)
        .header("location", location)
        .send({ flows: [{ deviceId: device, flowId: rule.id.toString() }] });
    },
  );
  app.post(
    "/flows",
    {
      schema: {
        tags,
        summary: "Adds a batch of flow rules (each names its deviceId); 200 with their ids",
        querystring: AppQuery,
        body: FlowsBatchBody,
        response: { 200: FlowRefsSchema, 400: ErrorSchema, 404: ErrorSchema },
      },
      validatorCompiler: ({ httpPart }) =>
        httpPart === "body" ? documentedOnly() : (data) => ({ value: data }),
    },
    async (request, reply) => {
      const body: unknown = request.body;
      const flows = isObject(body) ? body.flows : undefined;
      if (!Array.isArray(flows)) {
        throw new HttpError("INVALID_BODY", 'flows: the body must be {"flows": [ … ]}', {
          path: "flows",
        });
      }
      const query = request.query as { appId?: string };
      const queryApp =
        query.appId === undefined ? undefined : await resolveAppId(context, query.appId);
      if (queryApp === undefined) await registerNames(context, flows);
      const rules = new Array<FlowRule>(flows.length);
      for (let i = 0; i < flows.length; i++) {
        const flow: unknown = flows[i];
        if (!isObject(flow)) {
          throw new HttpError("INVALID_FIELD", `flows[${i}]: a flow rule must be an object`, {
            path: `flows[${i}]`,
          });
        }
        const appId = queryApp ?? appIdNow(context, flow.appId, `flows[${i}].appId`)!;
        try {
          rules[i] = parseFlowRule(withoutAppId(flow), { appId });
        } catch (error) {
          throw HttpError.inBatch(error, `flows[${i}]`);
        }
      }
      const byDevice = new Map<DeviceId, FlowRuleOperation[]>();
      for (let i = 0; i < rules.length; i++) {
        const rule = rules[i]!;
        if (fleet.get(rule.deviceId) === undefined) {
          throw new HttpError("NOT_FOUND", `flows[${i}].deviceId: Device is not found`, {
            path: `flows[${i}].deviceId`,
          });
        }
        let operations = byDevice.get(rule.deviceId);
        if (operations === undefined) {
          operations = [];
          byDevice.set(rule.deviceId, operations);
        }
        operations.push({ operator: "ADD", rule });
      }
      await Promise.all([...byDevice].map(([device, ops]) => storeBatch(device, ops, reply)));
      return {
        flows: rules.map((rule) => ({ deviceId: rule.deviceId, flowId: rule.id.toString() })),
      };
    },
  );
  app.delete(
    "/flows/:deviceId/:flowId",
    {
      schema: {
        tags,
        summary: "Removes one flow (204 also when the device has no such flow)",
        params: z.object({ deviceId: z.string(), flowId: z.string() }),
        response: { 204: NoContent, 404: ErrorSchema },
      },
    },
    async (request, reply) => {
      const device = knownDevice(context, request.params.deviceId);
      const entry = await store.getFlowEntryById(device, parseFlowId(request.params.flowId));
      if (entry !== undefined) await remove(device, [entry], reply);
      return reply.code(204).send();
    },
  );
  app.delete(
    "/flows",
    {
      schema: {
        tags,
        summary: "Removes a batch of flows",
        body: FlowsDeleteBody,
        response: { 204: NoContent, 400: ErrorSchema },
      },
    },
    async (request, reply) => {
      const wanted = new Map<DeviceId, Set<FlowId>>();
      request.body.flows.forEach((ref, i) => {
        const flow = parseFlowId(ref.flowId, `flows[${i}].flowId`);
        // ONOS removes nothing for a device it does not know.
        const device = fleet.get(ref.deviceId as DeviceId)?.id;
        if (device === undefined) return;
        let ids = wanted.get(device);
        if (ids === undefined) {
          ids = new Set();
          wanted.set(device, ids);
        }
        ids.add(flow);
      });
      await Promise.all(
        [...wanted].map(async ([device, ids]) => {
          const entries =
            ids.size > 32
              ? (await store.getFlowEntries(device)).filter((e) => ids.has(e.rule.id))
              : (
                  await Promise.all([...ids].map((id) => store.getFlowEntryById(device, id)))
                ).filter((e): e is FlowEntry => e !== undefined);
          await remove(device, entries, reply);
        }),
      );
      return reply.code(204).send();
    },
  );

  /** The id of an application path segment; a name nobody registered is ONOS's 404. */
  function existingApp(text: string): number {
    const id = appIdNow(context, text === "" ? REST_APPLICATION : text);
    if (id === undefined) throw new HttpError("NOT_FOUND", "Application Id is not found");
    return id;
  }

  /**
   * Stores one batch; with `--replication sync`, a batch acknowledged by fewer backups than
   * `--min-sync-backups` marks the answer with `X-Flowstore-Replication: under-replicated`.
   */
  async function storeBatch(
    device: DeviceId,
    operations: FlowRuleOperation[],
    reply: FastifyReply,
  ): Promise<void> {
    const stop = context.metrics.batchDuration.startTimer({ operation: operations[0]!.operator });
    try {
      const receipt = await store.storeBatchWithReceipt({ deviceId: device, operations });
      if (receipt.degraded) reply.header(REPLICATION_HEADER, "under-replicated");
    } finally {
      stop();
    }
  }

  async function remove(
    device: DeviceId,
    entries: readonly FlowEntry[],
    reply: FastifyReply,
  ): Promise<void> {
    if (entries.length === 0) return;
    await storeBatch(
      device,
      entries.map((entry) => ({ operator: "REMOVE", rule: entry.rule })),
      reply,
    );
  }

  async function* entryPage(device: DeviceId, id: FlowId): AsyncGenerator<readonly FlowEntry[]> {
    const entry = await store.getFlowEntryById(device, id);
    yield entry === undefined ? [] : [entry];
  }

  /** A device's entries a page at a time, read on its master (a million flows stream). */
  function devicePages(device: DeviceId): AsyncIterable<readonly FlowEntry[]> {
    return store.flowEntryPages(device);
  }

  async function* allPages(): AsyncGenerator<readonly FlowEntry[]> {
    for (const device of fleet.ids()) yield* devicePages(device);
  }

  /**
   * Answers `{"flows": [...]}` from `pages`, streamed a chunk at a time. The first page is
   * read before anything is sent, so a device that cannot be read is a clean error status.
   * The handler returns at once; the reply (or the error) is sent when the page is in.
   */
  function sendFlows(
    reply: FastifyReply,
    pages: AsyncIterable<readonly FlowEntry[]>,
    keep?: (entry: FlowEntry) => boolean,
  ): void {
    const iterator = pages[Symbol.asyncIterator]();
    iterator.next().then(
      (first) => {
        async function* all(): AsyncGenerator<readonly FlowEntry[]> {
          if (first.done === true) return;
          yield first.value;
          for (let next = await iterator.next(); next.done !== true; next = await iterator.next())
            yield next.value;
        }
        const chunks = flowsJsonChunks(context, all(), keep);
        reply.type("application/json").send(Readable.from(chunks, { objectMode: false }));
      },
      (error: unknown) => reply.send(error),
    );
  }
}

/** `flow` without its `appId` (resolved here, to a name or a number, before the codec). */
function withoutAppId(flow: Record<string, unknown>): Record<string, unknown> {
  if (!("appId" in flow)) return flow;
  const { appId: _appId, ...rest } = flow;
  return rest;
}
