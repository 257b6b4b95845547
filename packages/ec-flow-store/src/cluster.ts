// TEMPORARY: the cluster-messaging types the store uses, until that package is in the
// workspace; then these imports point at @flowstore/cluster-messaging.
import type { NodeId } from "@flowstore/mastership";
import { z } from "zod";

export type { NodeId };
export const NodeIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,64}$/)
  .transform((id) => id as NodeId);
