import { readFileSync } from "node:fs";
import { StoreConfigSchema } from "@flowstore/ec-flow-store";
import { z } from "zod";

/** `host:port` with a numeric port (0 = any free port). */
const address = (what: string) =>
  z
    .string()
    .regex(/^[^\s:]+:\d{1,5}$/, `${what} must be host:port, e.g. 127.0.0.1:9876`)
    .transform((text, ctx) => {
      const at = text.lastIndexOf(":");
      const port = Number(text.slice(at + 1));
      if (port > 65535) {
        ctx.addIssue({ code: "custom", message: `${what} port must be 0–65535` });
        return z.NEVER;
      }
      return { host: text.slice(0, at), port };
    });

const nodeIdText = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,64}$/, "a node id is 1–64 letters, digits, '.', '_' or '-'");

/** `n2=127.0.0.1:9877,n3=127.0.0.1:9878` or the same as a JSON object. */
const peers = z
  .union([
    z.string().transform((text, ctx) => {
      const out: Record<string, string> = {};
      for (const part of text.split(",").filter((p) => p.trim() !== "")) {
        const [id, addr] = part.split("=");
        if (id === undefined || addr === undefined) {
          ctx.addIssue({ code: "custom", message: `peer "${part}" must be id=host:port` });
          return z.NEVER;
        }
        out[id.trim()] = addr.trim();
      }
      return out;
    }),
    z.record(z.string(), z.string()),
  ])
  .pipe(z.record(nodeIdText, address("a peer address")));

// The store's own schema, every field optional: one definition of its settings and checks
// (a bucket count that is not a power of two is refused here, naming the field).
const storeSettings = StoreConfigSchema.partial();

const common = {
  /** Simulated devices `of:0000000000000001`…; the same ids on every node. */
  devices: z.number().int().min(0).max(100_000).default(8),
  /** Cluster name; nodes of different clusters refuse each other. */
  clusterName: z.string().min(1).default("flowstore"),
  logLevel: z.enum(["debug", "info", "warn", "error"]).default("info"),
  /**
   * How often simulated devices report their flows' counters, in ms (ONOS polls flow stats
   * every 5 s). Newly installed flows are reported at once, so they are ADDED without waiting.
   */
  statsPeriod: z.number().int().min(50).default(5000),
  /** A shared secret checked in the cluster handshake. */
  secret: z.string().min(1).optional(),
  store: storeSettings.default({}),
  /** How long a returning node must be up before balancing gives it devices, in ms. */
  rebalanceDelay: z.number().int().min(0).max(3_600_000).default(2000),
  /** At most this many devices moved by balancing per `moveInterval` (per node with etcd). */
  maxMoves: z.number().int().min(1).default(100),
  /** The window of `maxMoves`, in ms. */
  moveInterval: z.number().int().min(1).max(3_600_000).default(1000),
  /**
   * Keep the tables this node masters and backs up on disk (LMDB) in this directory (with
   * `--local N`, one subdirectory per node), and load them at start.
   */
  dataDir: z.string().min(1).optional(),
  /** With `dataDir`: how often changes are committed to disk, in ms. */
  commitInterval: z.number().int().min(1).max(60_000).default(100),
  /** `user:password`: the REST API requires HTTP Basic auth (ONOS's `onos:rocks` works too). */
  auth: z
    .string()
    .regex(/^[^:]+:.+$/, "auth must be user:password, both non-empty")
    .transform((text) => {
      const at = text.indexOf(":");
      return { user: text.slice(0, at), password: text.slice(at + 1) };
    })
    .optional(),
};

/** One node of a multi-process cluster. */
export const NodeConfigSchema = z
  .object({
    id: nodeIdText,
    listen: address("listen"),
    peers: peers.default({}),
    /** etcd endpoints (comma-separated URLs); without it the node coordinates with itself only. */
    etcd: z
      .string()
      .transform((s) =>
        s
          .split(",")
          .map((u) => u.trim())
          .filter((u) => u !== ""),
      )
      .pipe(z.array(z.url({ protocol: /^https?$/ })).min(1))
      .optional(),
    /** etcd lease TTL in seconds (etcd 3.4's minimum is 2). */
    leaseTtl: z.number().int().min(2).max(60).default(3),
    rest: address("rest").default({ host: "127.0.0.1", port: 8181 }),
    ...common,
  })
  .strict();

/** Several nodes in one process over loopback TCP with embedded coordination. */
export const LocalConfigSchema = z
  .object({
    local: z.number().int().min(1).max(9),
    /** REST port of node 1; node i listens on restPort + i − 1. */
    restPort: z.number().int().min(0).max(65535).default(8181),
    /** Cluster port of node 1; node i listens on clusterPort + i − 1 (0: any free ports). */
    clusterPort: z.number().int().min(0).max(65535).default(0),
    host: z.string().default("127.0.0.1"),
    ...common,
  })
  .strict();

export type NodeConfig = z.output<typeof NodeConfigSchema>;
export type LocalConfig = z.output<typeof LocalConfigSchema>;

/** What the command line asks for. */
export type RunConfig =
  | { readonly mode: "node"; readonly config: NodeConfig }
  | { readonly mode: "local"; readonly config: LocalConfig };

/** A refused flag or configuration file: the message names the field. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

/** Validates raw options (flags merged over a config file) for either mode. */
export function parseRunConfig(raw: Record<string, unknown>): RunConfig {
  const local = raw.local !== undefined;
  const schema = local ? LocalConfigSchema : NodeConfigSchema;
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field =
      issue.code === "unrecognized_keys"
        ? issue.keys.join(", ")
        : issue.path.map(String).join(".") || "(config)";
    const message =
      issue.code === "unrecognized_keys"
        ? `unknown option${issue.keys.length > 1 ? "s" : ""}`
        : issue.message;
    throw new ConfigError(`${field}: ${message}`);
  }
  return local
    ? { mode: "local", config: parsed.data as LocalConfig }
    : { mode: "node", config: parsed.data as NodeConfig };
}

/** Reads a JSON configuration file; a missing or malformed file is a {@link ConfigError}. */
export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(`config: cannot read ${path}: ${(error as Error).message}`);
  }
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new ConfigError(`config: ${path} must hold a JSON object`);
    }
    return value as Record<string, unknown>;
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`config: ${path} is not valid JSON: ${(error as Error).message}`);
  }
}
