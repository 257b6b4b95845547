import { z } from "zod";

/** The id of one controller node (one flowstore process), e.g. `n1`. */
export type NodeId = string & { readonly __brand: "NodeId" };

/** Schema of a node id: 1–64 characters of letters, digits, `.`, `_` and `-`. */
export const NodeIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,64}$/, "a node id is 1–64 letters, digits, '.', '_' or '-'")
  .transform((id) => id as NodeId);

/** `id` as a {@link NodeId}, or a `TypeError` saying why it is not one. */
export function nodeId(id: string): NodeId {
  const parsed = NodeIdSchema.safeParse(id);
  if (!parsed.success)
    throw new TypeError(
      `invalid node id ${JSON.stringify(id)}: ${parsed.error.issues[0]?.message}`,
    );
  return parsed.data;
}

/** One member of the cluster and the address it listens on for other nodes. */
export interface ControllerNode {
  readonly id: NodeId;
  readonly host: string;
  readonly port: number;
}
