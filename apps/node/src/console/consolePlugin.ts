import type { ServerResponse } from "node:http";
import { type DeviceId, DeviceIdSchema, type FlowEntry } from "@flowstore/flow-bucket";
import type { FastifyPluginAsync, FastifyReply } from "fastify";
import { ensureConsoleBuilt } from "./consoleBuild.js";
import { type ConsoleContext, ConsoleHub, type ConsoleHubOptions } from "./consoleHub.js";
import { FlowPager, matches, parseFlowQuery, toConsoleFlow } from "./flowQuery.js";
import type { ConsoleError, ConsoleEvent, FlowPage } from "./protocol.js";
import { StaticFiles } from "./staticFiles.js";

/** Options of {@link consolePlugin}: the node's objects, and optionally where the page is. */
export type ConsolePluginOptions = ConsoleContext & {
  /** Resolves with the folder of the built page (default: build `apps/console` if stale). */
  readonly dist?: () => Promise<string>;
  readonly hub?: ConsoleHubOptions;
  /** Build the page while the node starts (default: when the process is `flowstore-node`). */
  readonly buildAtStart?: boolean;
};

/** Longest a backup's page waits for its entries' counters from the master (ms). */
const COUNTERS_BUDGET_MS = 250;

/**
 * `entries` as the master has them now (counters included), each read by id; an entry the
 * master does not answer for in `budgetMs` stays as the local copy has it.
 */
async function fromMaster(
  store: ConsoleContext["store"],
  device: DeviceId,
  entries: readonly FlowEntry[],
  budgetMs: number,
): Promise<FlowEntry[]> {
  const fresh: (FlowEntry | undefined)[] = entries.map(() => undefined);
  const reads = Promise.all(
    entries.map((entry, i) =>
      store.getFlowEntryById(device, entry.rule.id).then(
        (found) => {
          fresh[i] = found;
        },
        () => undefined,
      ),
    ),
  );
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    reads,
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, budgetMs);
    }),
  ]);
  clearTimeout(timer);
  return entries.map((entry, i) => fresh[i] ?? entry);
}

/** How often an idle event stream gets a comment line, so proxies keep it open (ms). */
const KEEP_ALIVE = 15_000;

/**
 * The web console of one node, at `/ui/`: the built page (no CDN, nothing fetched at run
 * time), `GET /ui/api/events` (server-sent events: a snapshot, then deltas as they happen),
 * `GET /ui/api/state` (the snapshot as JSON) and `GET /ui/api/devices/{id}/flows` (a page of
 * a device's flows, filtered by state, application, priority and selector text).
 *
 * Register it on the node's fastify app with the objects the REST API serves:
 * `app.register(consolePlugin, context)`. Adding and deleting flows, and stopping and starting
 * nodes, go through the REST API itself.
 */
export const consolePlugin: FastifyPluginAsync<ConsolePluginOptions> = async (app, options) => {
  const hub = new ConsoleHub(options, options.hub);
  const pager = new FlowPager();
  const files = new StaticFiles(
    options.dist ?? (() => ensureConsoleBuilt((message) => app.log.info(message))),
  );
  const streams = new Set<ServerResponse>();
  // Run as flowstore-node, build (if need be) while the node starts, not when the first page
  // is asked for; embedded in tests and tools, only when it is.
  const cli = /(?:^|[/\\])(?:cli\.[jt]s|flowstore-node(?:\.js)?)$/.test(process.argv[1] ?? "");
  if (options.buildAtStart ?? cli)
    files
      .get("")
      .catch((error: unknown) =>
        app.log.error({ error: String(error) }, "the web console cannot be served"),
      );

  app.addHook("preClose", async () => {
    for (const stream of streams) stream.end();
    streams.clear();
    hub.close();
    pager.close();
  });
  app.addHook("onClose", async () => {
    hub.close();
    pager.close();
  });

  // The page's first lines in the node's log: where to open it.
  app.addHook("onListen", async () => {
    const address = app.server.address();
    if (address === null || typeof address === "string") return;
    const host =
      address.address === "0.0.0.0" || address.address === "::" ? "127.0.0.1" : address.address;
    const where = host.includes(":") ? `[${host}]` : host;
    app.log.info(
      { url: `http://${where}:${address.port}/ui/` },
      `web console of ${options.nodeId}`,
    );
  });

  const serve = async (path: string, reply: FastifyReply) => {
    const file = await files.get(path);
    return reply.headers(file.headers).send(file.body);
  };
  app.get("/ui/", async (request, reply) =>
    // With the router's ignoreTrailingSlash, /ui lands here too: relative links need the slash.
    request.url.split("?")[0] === "/ui" ? reply.redirect("/ui/", 302) : serve("", reply),
  );
  if (!app.hasRoute({ method: "GET", url: "/ui" })) {
    app.get("/ui", async (_request, reply) => reply.redirect("/ui/", 302));
  }
  app.get<{ Params: { "*": string } }>("/ui/*", async (request, reply) => {
    const path = request.params["*"];
    if (path.startsWith("api/")) {
      return reply
        .code(404)
        .send({ code: "NOT_FOUND", message: `no console resource /ui/${path}` });
    }
    return serve(path, reply);
  });

  app.get("/ui/api/state", async () => hub.snapshot());

  // A crash for the failover drill; a graceful stop and a start are the REST API's.
  app.post<{ Params: { nodeId: string } }>(
    "/ui/api/nodes/:nodeId/crash",
    async (request, reply) => {
      const admin = options.admin;
      if (admin?.crash === undefined) {
        const error: ConsoleError = {
          code: "NOT_FOUND",
          message: "crashing a node is only available with --local",
        };
        return reply.code(404).send(error);
      }
      await admin.crash(request.params.nodeId);
      return { node: request.params.nodeId, action: "crash" };
    },
  );

  app.get("/ui/api/events", (request, reply) => {
    reply.hijack();
    const response = reply.raw;
    response.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache, no-transform",
      connection: "keep-alive",
      "x-accel-buffering": "no",
    });
    const send = (event: ConsoleEvent) => {
      response.write(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
    };
    response.write("retry: 1000\n\n");
    send({ type: "snapshot", ...hub.snapshot() });
    streams.add(response);
    const stop = hub.listen(send);
    const keepAlive = setInterval(() => response.write(": keep-alive\n\n"), KEEP_ALIVE);
    request.raw.on("close", () => {
      clearInterval(keepAlive);
      stop();
      streams.delete(response);
    });
  });

  app.get<{ Params: { deviceId: string }; Querystring: Record<string, string> }>(
    "/ui/api/devices/:deviceId/flows",
    async (request, reply) => {
      const started = performance.now();
      const parsed = DeviceIdSchema.safeParse(request.params.deviceId);
      if (!parsed.success || options.fleet.get(parsed.data) === undefined) {
        const error: ConsoleError = {
          code: "NOT_FOUND",
          message: `no device ${request.params.deviceId}`,
          path: "deviceId",
        };
        return reply.code(404).send(error);
      }
      const device: DeviceId = parsed.data;
      const query = parseFlowQuery(request.query, (name) => options.applications?.idOf(name));
      if ("code" in query) return reply.code(400).send(query);
      const { filter, offset, limit } = query;
      const info = options.mastership.mastership(device);
      const table = options.store.localTable(device);
      const holds =
        table !== undefined &&
        (info.master === options.nodeId ||
          info.backups.some((backup) => backup === options.nodeId));
      let total: number;
      let entries: FlowEntry[];
      let complete = true;
      let source: FlowPage["source"];
      if (holds) {
        ({ total, entries, complete } = pager.page(device, table, filter, offset, limit));
        source = info.master === options.nodeId ? "master" : "backup";
        // Counters are soft state, not replicated: a backup's copy has none. The page's
        // entries are read again on the master (one small read each), in a bounded time.
        if (source === "backup" && entries.length > 0)
          entries = await fromMaster(options.store, device, entries, COUNTERS_BUDGET_MS);
      } else {
        // This node holds no copy: stream the master's table a page at a time, keeping one page.
        total = 0;
        entries = [];
        for await (const chunk of options.store.flowEntryPages(device)) {
          for (const entry of chunk) {
            if (!matches(entry, filter)) continue;
            if (total >= offset && entries.length < limit) entries.push(entry);
            total++;
          }
        }
        source = "remote";
      }
      const page: FlowPage = {
        device,
        total,
        complete,
        offset,
        limit,
        flows: entries.map((entry) =>
          toConsoleFlow(entry, (id) => options.applications?.nameOf(id)),
        ),
        source,
        tookMs: Math.round((performance.now() - started) * 100) / 100,
      };
      return page;
    },
  );
};
