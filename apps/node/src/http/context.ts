import type { IncomingMessage, ServerResponse } from "node:http";
import type { EcFlowRuleStore } from "@flowstore/ec-flow-store";
import type { DeviceId } from "@flowstore/flow-bucket";
import type { ApplicationRegistry, Mastership } from "@flowstore/mastership";
import type { FastifyBaseLogger, FastifyInstance, RawServerDefault } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { DeviceFleet } from "../deviceSimulator.js";
import type { JsonLogger } from "../logger.js";
import type { NodeMetrics } from "../metrics.js";

/** A cluster member as the REST API shows it. */
export interface ClusterMember {
  readonly id: string;
  readonly host: string;
  readonly port: number;
  readonly status: "ACTIVE" | "INACTIVE";
}

/** The members of the cluster, as this node sees them. */
export interface ClusterView {
  nodes(): readonly ClusterMember[];
}

/** `--local` only: crash or restore a node of the process. */
export interface NodeAdmin {
  /** A graceful stop: the node hands its devices over first. */
  stop(node: string): Promise<void>;
  /** A crash: the node's store and sockets vanish, its devices fail over. */
  crash?(node: string): Promise<void>;
  start(node: string): Promise<void>;
}

/** HTTP Basic credentials the API requires (`--auth user:password`). */
export interface BasicAuth {
  readonly user: string;
  readonly password: string;
}

/** What the REST API of one node serves. */
export interface HttpContext {
  readonly nodeId: string;
  readonly store: EcFlowRuleStore;
  readonly mastership: Mastership<DeviceId>;
  readonly fleet: DeviceFleet;
  readonly cluster: ClusterView;
  readonly applications: ApplicationRegistry;
  readonly log: JsonLogger;
  readonly metrics: NodeMetrics;
  readonly admin?: NodeAdmin | undefined;
  /** When set, every `/onos/v1` route but the docs requires these credentials (or ONOS's `onos:rocks`). */
  readonly auth?: BasicAuth | undefined;
  /** When the node started (ms since the epoch): devices' and nodes' `lastUpdate`. */
  readonly startedAt: number;
}

/** The fastify instance the routes are registered on, typed by zod schemas. */
export type ZodApp = FastifyInstance<
  RawServerDefault,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  ZodTypeProvider
>;
