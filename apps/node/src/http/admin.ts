import { z } from "zod";
import type { HttpContext, ZodApp } from "./context.js";
import { HttpError } from "./errors.js";
import { ApplicationIdsSchema, ErrorSchema } from "./schemas.js";

/**
 * flowstore's own routes: stop (a hand-over), crash and restore a node of a `--local` cluster, and the
 * application ids (ONOS's `GET /applications/ids/entry`, and the whole table).
 */
export function adminRoutes(app: ZodApp, context: HttpContext): void {
  const summaries = {
    stop: "Stops a node of a --local cluster gracefully: a planned hand-over of its devices",
    crash: "Crashes a node of a --local cluster: no hand-over, its devices fail over",
    start: "Restores a stopped or crashed node of a --local cluster",
  } as const;
  for (const action of ["stop", "crash", "start"] as const) {
    app.post(
      `/admin/nodes/:nodeId/${action}`,
      {
        schema: {
          tags: ["admin"],
          summary: summaries[action],
          params: z.object({ nodeId: z.string() }),
          response: {
            200: z.object({ node: z.string(), action: z.string() }),
            404: ErrorSchema,
          },
        },
      },
      async (request) => {
        const run = context.admin?.[action];
        if (run === undefined) {
          throw new HttpError(
            "NOT_FOUND",
            "stopping, crashing and starting nodes is only available with --local",
          );
        }
        await run(request.params.nodeId);
        return { node: request.params.nodeId, action };
      },
    );
  }
  app.get(
    "/applications/ids",
    {
      schema: {
        tags: ["applications"],
        summary: "Every application name and its 16-bit id",
        response: { 200: ApplicationIdsSchema },
      },
    },
    async () => ({ applicationIds: [...context.applications.applications()] }),
  );
  app.get(
    "/applications/ids/entry",
    {
      schema: {
        tags: ["applications"],
        summary: "One application, by id or by name",
        querystring: z.object({
          id: z.coerce.number().int().optional(),
          name: z.string().optional(),
        }),
        response: { 200: z.object({ id: z.number(), name: z.string() }), 404: ErrorSchema },
      },
    },
    async (request) => {
      const { id, name } = request.query;
      const app =
        id !== undefined
          ? { id, name: context.applications.nameOf(id) }
          : name !== undefined
            ? { id: context.applications.idOf(name), name }
            : undefined;
      if (app?.id === undefined || app.name === undefined) {
        throw new HttpError("NOT_FOUND", "Application Id is not found");
      }
      return { id: app.id, name: app.name };
    },
  );
}
