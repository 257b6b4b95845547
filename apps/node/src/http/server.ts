import type { AddressInfo } from "node:net";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import { REST_APPLICATION } from "@flowstore/mastership";
import Fastify, { type FastifyBaseLogger, type FastifyRequest, LogController } from "fastify";
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  validatorCompiler,
  type ZodTypeProvider,
} from "fastify-type-provider-zod";
import { consolePlugin } from "../console/consolePlugin.js";
import { adminRoutes } from "./admin.js";
import { basicAuthHook } from "./auth.js";
import { clusterRoutes } from "./cluster.js";
import type { HttpContext, ZodApp } from "./context.js";
import { deviceRoutes } from "./devices.js";
import { HttpError } from "./errors.js";
import { stringify } from "./flowJson.js";
import { flowRoutes } from "./flows.js";
import { mastershipRoutes } from "./mastership.js";
import { statisticsRoutes } from "./statistics.js";

/** ONOS's REST prefix. */
export const API_PREFIX = "/onos/v1";
/** Where the OpenAPI document and its page are served (ONOS serves its API docs there). */
export const DOCS_PREFIX = `${API_PREFIX}/docs`;
/** The largest request body accepted. */
export const BODY_LIMIT = 16 * 1024 * 1024;

/**
 * The REST API of one node as a fastify instance, routes registered, not listening yet:
 * ONOS's `/onos/v1/…` (flows, devices, cluster, mastership, statistics, application ids),
 * flowstore's `/onos/v1/admin/…`, the OpenAPI document at `/onos/v1/docs`, and `/metrics`.
 * Any node answers for any device: the store forwards to the master.
 *
 * @remarks Under `--auth` every `/onos/v1` route but the docs, and the web console at `/ui`,
 * ask for credentials; `/metrics` stays open for scrapers. To extend the server, register a
 * fastify plugin with the context — here, as the web console is, or on the returned instance
 * before {@link listenHttp}: `await app.register(plugin, context)`.
 */
export async function createHttpServer(context: HttpContext): Promise<ZodApp> {
  const app = Fastify({
    loggerInstance: context.log.pino.child({ component: "rest" }) as FastifyBaseLogger,
    // One line per request is too many at thousands a second; latency goes to /metrics.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT,
    routerOptions: { ignoreTrailingSlash: true },
  }).withTypeProvider<ZodTypeProvider>();
  // The default REST application exists before the first request needs it.
  await context.applications.register(REST_APPLICATION);

  app.setValidatorCompiler(validatorCompiler);
  // Response schemas document; replies are written by JSON.stringify (bigint-safe).
  app.setSerializerCompiler(() => (data) => stringify(data));

  // ONOS clients often send JSON with no content type, or text/plain: a body is JSON.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "string" }, parseJsonBody);

  app.setErrorHandler((error, request, reply) => {
    const failure = toHttpError(error);
    if (failure.code === "INTERNAL") {
      request.log.error({ err: error, url: request.url }, "request failed");
    }
    // A client told to slow down (OVERLOADED) or that the device's master is moving
    // (UNAVAILABLE) is told when to come back.
    if (failure.status === 503) reply.header("retry-after", "1");
    return reply.code(failure.status).type("application/json").send(failure.toJSON());
  });
  // Every route's method and path pattern, so that a known path with another method is a 405.
  const routes: { method: string; pattern: RegExp }[] = [];
  app.addHook("onRoute", (route) => {
    const pattern = new RegExp(
      `^${route.url
        .replace(/[.+?^${}()|[\]\\]/g, "\\$&")
        .replace(/:[^/]+/g, "[^/]+")
        .replace(/\*$/, ".*")}/?$`,
    );
    for (const method of [route.method].flat()) routes.push({ method, pattern });
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split("?")[0] ?? "";
    const allowed = [...new Set(routes.filter((r) => r.pattern.test(path)).map((r) => r.method))];
    if (allowed.length > 0) {
      return reply
        .code(405)
        .header("allow", allowed.join(", "))
        .send(
          new HttpError(
            "METHOD_NOT_ALLOWED",
            `${request.method} is not allowed on ${path}`,
          ).toJSON(),
        );
    }
    return reply
      .code(404)
      .send(new HttpError("NOT_FOUND", `no resource ${request.method} ${request.url}`).toJSON());
  });

  app.addHook("onResponse", async (request, reply) => {
    context.metrics.restDuration.observe(
      {
        method: request.method,
        route: request.routeOptions.url ?? "unmatched",
        status: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
  });
  if (context.auth !== undefined) {
    app.addHook(
      "onRequest",
      basicAuthHook(
        context.auth,
        (url) =>
          (url.startsWith(API_PREFIX) && !url.startsWith(DOCS_PREFIX)) || url.startsWith("/ui"),
      ),
    );
  }

  await app.register(swagger, {
    openapi: {
      openapi: "3.0.3",
      info: {
        title: "flowstore REST API",
        description:
          "ONOS's REST API (/onos/v1) served by a flowstore node: flows, devices, cluster, " +
          "mastership, statistics. Errors are `{code, message, path?}`, code being the HTTP status.",
        version: "1.0.0",
      },
      components: {
        securitySchemes: { basicAuth: { type: "http", scheme: "basic" } },
      },
      ...(context.auth === undefined ? {} : { security: [{ basicAuth: [] }] }),
    },
    transform: jsonSchemaTransform,
  });
  await app.register(swaggerUi, { routePrefix: DOCS_PREFIX });
  app.get(`${DOCS_PREFIX}/openapi.json`, { schema: { hide: true } }, async () => app.swagger());

  await app.register(
    async (api) => {
      const scope = api.withTypeProvider<ZodTypeProvider>();
      flowRoutes(scope, context);
      deviceRoutes(scope, context);
      clusterRoutes(scope, context);
      mastershipRoutes(scope, context);
      statisticsRoutes(scope, context);
      adminRoutes(scope, context);
    },
    { prefix: API_PREFIX },
  );

  await app.register(consolePlugin, context);

  app.get("/metrics", { schema: { hide: true } }, async (_request, reply) =>
    reply.type(context.metrics.contentType).send(await context.metrics.text()),
  );
  return app;
}

/** Listens on `host:port` and resolves with the actual address (port 0 picks a free one). */
export async function listenHttp(app: ZodApp, host: string, port: number): Promise<AddressInfo> {
  await app.listen({ host, port });
  return app.server.address() as AddressInfo;
}

/** Any error a route, a hook or fastify raised, as the API's error. */
function toHttpError(error: unknown): HttpError {
  if (hasZodFastifySchemaValidationErrors(error)) {
    const first = error.validation[0];
    const path = (first?.instancePath ?? "")
      .split("/")
      .filter((p) => p !== "")
      .map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`))
      .join("")
      .replace(/^\./, "");
    const where = path === "" ? (error.validationContext ?? "request") : path;
    return new HttpError("INVALID_FIELD", `${where}: ${first?.message ?? "invalid"}`, {
      path: where,
      cause: error,
    });
  }
  const status = (error as { statusCode?: unknown }).statusCode;
  if (!HttpError.is(error) && typeof status === "number" && status >= 400 && status < 500) {
    const message = (error as Error).message;
    if (status === 413) return new HttpError("BODY_TOO_LARGE", message, { cause: error });
    if (status === 404) return new HttpError("NOT_FOUND", message, { cause: error });
    return new HttpError("INVALID_BODY", message, { cause: error });
  }
  return HttpError.from(error);
}

/**
 * Every request body, whatever its content type, as JSON; none for an empty body (a PUT
 * …/request, say: the routes that need one say so). Named, so that a CPU profile tells the
 * parsing of bodies from the server's other work (see the bench's `profile`).
 */
function parseJsonBody(
  _request: FastifyRequest,
  text: string,
  done: (error: Error | null, body?: unknown) => void,
): void {
  if (text.trim() === "") {
    done(null, undefined);
    return;
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    done(new HttpError("INVALID_BODY", `the body is not valid JSON: ${(error as Error).message}`));
    return;
  }
  // Outside the try: fastify runs the request's handler from `done`, and what that throws is
  // not a fault of the body.
  done(null, body);
}
