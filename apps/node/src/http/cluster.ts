import { z } from "zod";
import type { ClusterMember, HttpContext, ZodApp } from "./context.js";
import { since } from "./devices.js";
import { found } from "./errors.js";
import { ClusterNodeSchema, ClusterSchema, ErrorSchema } from "./schemas.js";

const tags = ["cluster"];

/** ONOS's `ClusterWebResource`: the nodes, and one node. */
export function clusterRoutes(app: ZodApp, context: HttpContext): void {
  const nodeJson = (n: ClusterMember): z.output<typeof ClusterNodeSchema> => ({
    id: n.id,
    ip: n.host,
    tcpPort: n.port,
    status: n.status,
    lastUpdate: String(context.startedAt),
    humanReadableLastUpdate: `${since(context.startedAt)} ago`,
  });
  app.get(
    "/cluster",
    { schema: { tags, summary: "Every cluster node", response: { 200: ClusterSchema } } },
    async () => ({ nodes: context.cluster.nodes().map(nodeJson) }),
  );
  app.get(
    "/cluster/:id",
    {
      schema: {
        tags,
        summary: "One cluster node",
        params: z.object({ id: z.string() }),
        response: { 200: ClusterNodeSchema, 404: ErrorSchema },
      },
    },
    async (request) =>
      nodeJson(
        found(
          context.cluster.nodes().find((n) => n.id === request.params.id),
          "Node",
        ),
      ),
  );
}
