import { z } from "zod";
import { type ControllerNode, NodeIdSchema } from "./node.js";

/** Schema of one node's address in the cluster configuration. */
export const ControllerNodeSchema = z.object({
  id: NodeIdSchema,
  host: z.string().min(1),
  port: z.number().int().min(0).max(65535),
});

/**
 * Schema of a cluster configuration: its name and every member (node ids unique).
 *
 * @remarks The name is hashed into the handshake, so two clusters sharing hosts never talk to
 * each other by mistake.
 */
export const ClusterConfigSchema = z
  .object({
    name: z.string().min(1).max(200),
    nodes: z.array(ControllerNodeSchema).min(1),
  })
  .superRefine((config, context) => {
    const seen = new Set<string>();
    config.nodes.forEach((node, index) => {
      if (seen.has(node.id)) {
        context.addIssue({
          code: "custom",
          path: ["nodes", index, "id"],
          message: `duplicate node id ${node.id}`,
        });
      }
      seen.add(node.id);
    });
  });

/** The name of a cluster and every node in it. */
export interface ClusterConfig {
  readonly name: string;
  readonly nodes: readonly ControllerNode[];
}

/** `raw` as a {@link ClusterConfig}, or a `TypeError` naming the first bad field. */
export function parseClusterConfig(raw: unknown): ClusterConfig {
  const parsed = ClusterConfigSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const where = issue === undefined ? "" : issue.path.map(String).join(".");
  throw new TypeError(`invalid cluster configuration: ${where}: ${issue?.message ?? "invalid"}`);
}
