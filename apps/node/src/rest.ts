import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type EcFlowRuleStore, FlowStoreError } from "@flowstore/ec-flow-store";
import {
  type DeviceId,
  DeviceIdSchema,
  type FlowEntry,
  type FlowId,
  FlowRuleError,
  flowEntryToJson,
  flowId,
  parseFlowRule,
} from "@flowstore/flow-bucket";
import type { Mastership } from "@flowstore/mastership";
import type { DeviceFleet } from "./deviceSimulator.js";
import type { JsonLogger } from "./logger.js";

/** A cluster member as the REST API shows it. */
export interface ClusterView {
  nodes(): readonly { id: string; host: string; port: number; status: "ACTIVE" | "INACTIVE" }[];
}

/** What the REST API serves. */
export interface RestContext {
  readonly nodeId: string;
  readonly store: EcFlowRuleStore;
  readonly mastership: Mastership<DeviceId>;
  readonly fleet: DeviceFleet;
  readonly cluster: ClusterView;
  readonly log: JsonLogger;
  /** Prometheus text for `/metrics`. */
  readonly metrics: () => Promise<string>;
  /** `--local` only: crash or restore a node of the process. */
  readonly admin?: { stop(node: string): Promise<void>; start(node: string): Promise<void> };
  /** The application id REST-created rules get when the body names none (ONOS's REST app). */
  readonly defaultAppId?: number;
}

/** An HTTP error with the JSON body the API answers with. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly path?: string,
  ) {
    super(message);
  }
}

const MAX_BODY = 16 * 1024 * 1024;
const PREFIX = "/onos/v1";

type Handler = (
  params: string[],
  request: IncomingMessage,
  body: () => Promise<unknown>,
) => Promise<Reply>;
interface Reply {
  readonly status: number;
  readonly json?: unknown;
  readonly text?: string;
  readonly headers?: Record<string, string>;
}

/**
 * The REST API on the paths ONOS users script against: `/onos/v1/flows…`, `/devices`,
 * `/cluster`, `/mastership/{deviceId}/…`, `/admin/nodes/{nodeId}/stop|start` (`--local`),
 * and `/metrics`. Any node answers for any device: the store forwards to the master.
 */
export function createRestServer(context: RestContext): Server {
  const routes: { method: string; pattern: RegExp; handler: Handler }[] = [];
  const route = (method: string, path: string, handler: Handler) => {
    const pattern = new RegExp(`^${path.replace(/\{[^}]+\}/g, "([^/]+)")}/?$`);
    routes.push({ method, pattern, handler });
  };
  const { store, mastership, fleet, cluster } = context;

  route("GET", `${PREFIX}/flows`, async () => {
    const flows: unknown[] = [];
    for (const id of fleet.ids())
      for (const entry of await store.getFlowEntries(id)) flows.push(flowEntryToJson(entry));
    return { status: 200, json: { flows } };
  });
  route("GET", `${PREFIX}/flows/{deviceId}`, async ([device]) => {
    const id = parseDevice(device!);
    const entries = await store.getFlowEntries(id);
    return { status: 200, json: { flows: entries.map(flowEntryToJson) } };
  });
  route("GET", `${PREFIX}/flows/{deviceId}/{flowId}`, async ([device, flow]) => {
    const entry = await findFlow(parseDevice(device!), flow!);
    return { status: 200, json: { flows: [flowEntryToJson(entry)] } };
  });
  route("POST", `${PREFIX}/flows/{deviceId}`, async ([device], request, body) => {
    const id = parseDevice(device!);
    const appId = appIdOf(request);
    const rule = parseRule(await body(), {
      deviceId: id,
      ...(appId === undefined ? {} : { appId }),
    });
    await store.storeBatch({ deviceId: id, operations: [{ operator: "ADD", rule }] });
    const location = `${PREFIX}/flows/${id}/${rule.id}`;
    return {
      status: 201,
      json: { flows: [{ deviceId: id, flowId: rule.id.toString() }] },
      headers: { location },
    };
  });
  route("POST", `${PREFIX}/flows`, async (_params, request, body) => {
    const json = await body();
    if (
      typeof json !== "object" ||
      json === null ||
      !Array.isArray((json as { flows?: unknown }).flows)
    ) {
      throw new HttpError(400, "INVALID_BODY", 'the body must be {"flows": [ … ]}', "flows");
    }
    const appId = appIdOf(request);
    const rules = (json as { flows: unknown[] }).flows.map((flow, i) => {
      try {
        return parseFlowRule(flow, appId === undefined ? defaults() : { appId });
      } catch (error) {
        if (error instanceof FlowRuleError) {
          throw new HttpError(
            400,
            error.code,
            `flows[${i}].${error.message}`,
            `flows[${i}].${error.path}`,
          );
        }
        throw error;
      }
    });
    rules.forEach((rule, i) => {
      if (fleet.get(rule.deviceId) === undefined) {
        throw new HttpError(
          404,
          "NOT_FOUND",
          `flows[${i}].deviceId: no device ${rule.deviceId}`,
          `flows[${i}].deviceId`,
        );
      }
    });
    const byDevice = new Map<DeviceId, typeof rules>();
    for (const rule of rules)
      byDevice.set(rule.deviceId, [...(byDevice.get(rule.deviceId) ?? []), rule]);
    for (const [id, list] of byDevice) {
      await store.storeBatch({
        deviceId: id,
        operations: list.map((rule) => ({ operator: "ADD" as const, rule })),
      });
    }
    return {
      status: 201,
      json: {
        flows: rules.map((rule) => ({ deviceId: rule.deviceId, flowId: rule.id.toString() })),
      },
    };
  });
  route("DELETE", `${PREFIX}/flows/{deviceId}/{flowId}`, async ([device, flow]) => {
    const id = parseDevice(device!);
    const entry = await findFlow(id, flow!);
    await store.storeBatch({
      deviceId: id,
      operations: [{ operator: "REMOVE", rule: entry.rule }],
    });
    return { status: 204 };
  });
  route("GET", `${PREFIX}/devices`, async () => ({
    status: 200,
    json: {
      devices: fleet.ids().map((id) => {
        const info = mastership.mastership(id);
        return {
          id,
          type: "SWITCH",
          available: fleet.get(id)?.available ?? false,
          role: mastership.role(id),
          master: info.master ?? null,
        };
      }),
    },
  }));
  route("GET", `${PREFIX}/cluster`, async () => ({
    status: 200,
    json: {
      nodes: cluster
        .nodes()
        .map((n) => ({ id: n.id, ip: n.host, tcpPort: n.port, status: n.status })),
    },
  }));
  route("GET", `${PREFIX}/mastership/{deviceId}`, async ([device]) => {
    const info = mastership.mastership(parseDevice(device!));
    return {
      status: 200,
      json: { term: info.term, master: info.master ?? null, backups: info.backups },
    };
  });
  route("GET", `${PREFIX}/mastership/{deviceId}/master`, async ([device]) => {
    const info = mastership.mastership(parseDevice(device!));
    if (info.master === undefined) throw new HttpError(404, "NO_MASTER", `no master for ${device}`);
    return { status: 200, json: { nodeId: info.master } };
  });
  route("GET", `${PREFIX}/mastership/{deviceId}/role`, async ([device]) => ({
    status: 200,
    json: { role: mastership.role(parseDevice(device!)) },
  }));
  route("GET", `${PREFIX}/mastership/{deviceId}/local`, async ([device]) => ({
    status: 200,
    json: { master: mastership.mastership(parseDevice(device!)).master === context.nodeId },
  }));
  for (const action of ["stop", "start"] as const) {
    route("POST", `${PREFIX}/admin/nodes/{nodeId}/${action}`, async ([node]) => {
      if (context.admin === undefined) {
        throw new HttpError(
          404,
          "NOT_LOCAL",
          "stopping and starting nodes is only available with --local",
        );
      }
      await context.admin[action](decodeURIComponent(node!));
      return { status: 200, json: { node, action } };
    });
  }
  route("GET", "/metrics", async () => ({ status: 200, text: await context.metrics() }));

  /** A device of the fleet; an unknown one is a 404. */
  function parseDevice(text: string): DeviceId {
    const id = parseDeviceId(text);
    if (fleet.get(id) === undefined) throw new HttpError(404, "NOT_FOUND", `no device ${id}`);
    return id;
  }

  async function findFlow(device: DeviceId, text: string): Promise<FlowEntry> {
    let id: FlowId;
    try {
      id = flowId(decodeURIComponent(text));
    } catch {
      throw new HttpError(
        400,
        "INVALID_FLOW_ID",
        `flow id ${JSON.stringify(text)} is not a 64-bit number`,
        "flowId",
      );
    }
    const entry = await store.getFlowEntryById(device, id);
    if (entry === undefined) throw new HttpError(404, "NOT_FOUND", `no flow ${id} on ${device}`);
    return entry;
  }

  function defaults() {
    return context.defaultAppId === undefined ? {} : { appId: context.defaultAppId };
  }

  function appIdOf(request: IncomingMessage): number | undefined {
    const value = new URL(request.url ?? "/", "http://x").searchParams.get("appId");
    if (value === null) return context.defaultAppId;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0 || n > 0xffff) {
      throw new HttpError(
        400,
        "INVALID_APP_ID",
        `appId must be 0–65535, got ${JSON.stringify(value)}`,
        "appId",
      );
    }
    return n;
  }

  return createServer((request, response) => {
    void handle(request, response);
  });

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? "/", "http://localhost");
    const path = url.pathname;
    let reply: Reply;
    try {
      const matching = routes.filter((r) => r.pattern.test(path));
      const found = matching.find((r) => r.method === request.method);
      if (found === undefined) {
        throw matching.length > 0
          ? new HttpError(405, "METHOD_NOT_ALLOWED", `${request.method} is not allowed on ${path}`)
          : new HttpError(404, "NOT_FOUND", `no resource ${path}`);
      }
      const params = found.pattern.exec(path)!.slice(1);
      reply = await found.handler(params, request, () => readJson(request));
    } catch (error) {
      reply = toErrorReply(error, context.log);
    }
    const headers: Record<string, string> = { ...(reply.headers ?? {}) };
    let payload = "";
    if (reply.text !== undefined) {
      headers["content-type"] = "text/plain; version=0.0.4";
      payload = reply.text;
    } else if (reply.json !== undefined) {
      headers["content-type"] = "application/json";
      payload = JSON.stringify(reply.json, (_k, v: unknown) =>
        typeof v === "bigint" ? v.toString() : v,
      );
    }
    response.writeHead(reply.status, headers);
    response.end(payload);
  }
}

function parseDeviceId(text: string): DeviceId {
  const parsed = DeviceIdSchema.safeParse(decodeURIComponent(text));
  if (!parsed.success) {
    throw new HttpError(
      400,
      "INVALID_DEVICE_ID",
      `invalid device id ${JSON.stringify(text)}`,
      "deviceId",
    );
  }
  return parsed.data;
}

function parseRule(json: unknown, defaults: { deviceId: string; appId?: number }) {
  try {
    return parseFlowRule(json, defaults);
  } catch (error) {
    if (error instanceof FlowRuleError)
      throw new HttpError(400, error.code, error.message, error.path);
    throw error;
  }
}

async function readJson(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY)
      throw new HttpError(413, "BODY_TOO_LARGE", `the body is larger than ${MAX_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "")
    throw new HttpError(400, "INVALID_BODY", "the body is empty; a JSON document is expected");
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new HttpError(
      400,
      "INVALID_JSON",
      `the body is not valid JSON: ${(error as Error).message}`,
    );
  }
}

function toErrorReply(error: unknown, log: JsonLogger): Reply {
  if (error instanceof HttpError) {
    return {
      status: error.status,
      json: {
        code: error.code,
        message: error.message,
        ...(error.path === undefined ? {} : { path: error.path }),
      },
    };
  }
  if (error instanceof FlowStoreError) {
    const status =
      error.code === "NO_MASTER" ||
      error.code === "UNAVAILABLE" ||
      error.code === "NOT_MASTER" ||
      error.code === "STALE_TERM"
        ? 503
        : error.code === "TIMEOUT"
          ? 504
          : error.code === "INVALID_ARGUMENT"
            ? 400
            : 500;
    return { status, json: { code: error.code, message: error.message } };
  }
  log.error("request failed", { error: String(error), stack: (error as Error).stack });
  return { status: 500, json: { code: "INTERNAL", message: String(error) } };
}

/** Listens on `host:port` and resolves with the actual address (port 0 picks a free one). */
export function listen(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve(server.address() as AddressInfo);
    });
  });
}
