// The console's wire protocol: what the node sends the page at /ui/ over server-sent events
// and the console's JSON endpoints. Types only (no imports, no code), so the page's build can
// import this file as it is.

/** Flow entry states, in their order of life. */
export type ConsoleFlowState = "PENDING_ADD" | "ADDED" | "PENDING_REMOVE" | "REMOVED" | "FAILED";

/**
 * A node as the console shows it.
 *
 * - `ACTIVE` — running and seen alive;
 * - `SUSPECTED` — not answering, but the failure detectors have not convicted it yet (it still
 *   masters devices);
 * - `DOWN` — not answering and its devices have moved.
 */
export type ConsoleNodeStatus = "ACTIVE" | "SUSPECTED" | "DOWN";

/** Live figures of one node; known for the nodes of this process (`--local`). */
export interface NodeFigures {
  /** Heap in use by the process that runs the node (bytes). */
  readonly heapUsed: number;
  /** Changed buckets of mastered devices some backup has not acknowledged. */
  readonly backupLag: number;
  /** Store messages sent per second (backups, anti-entropy, forwards, reads). */
  readonly messagesPerSecond: number;
  /** Encoded bytes of store messages sent per second. */
  readonly bytesPerSecond: number;
  /** Flow operations applied per second on the devices this node masters. */
  readonly writesPerSecond: number;
}

/** One cluster member. */
export interface ConsoleNode {
  readonly id: string;
  readonly host: string;
  readonly port: number;
  readonly status: ConsoleNodeStatus;
  /** Whether this is the node serving the page. */
  readonly self: boolean;
  /** Devices it masters, as this node's mastership view says. */
  readonly masters: number;
  /** `null` when the node runs in another process. */
  readonly figures: NodeFigures | null;
}

/**
 * Where a device's current term is: `NONE` (no master), `SYNCHRONIZING` (a new master pulls the
 * newest copy from the old master or the backups — from the moment its term starts), `ACTIVE`
 * (synchronized and published: accepting writes).
 */
export type ConsoleTermState = "NONE" | "SYNCHRONIZING" | "ACTIVE";

/** One device row. */
export interface ConsoleDevice {
  readonly id: string;
  readonly available: boolean;
  readonly master: string | null;
  readonly backups: readonly string[];
  readonly term: number;
  readonly activeTerm: number | null;
  readonly termState: ConsoleTermState;
  /** Flow entries by state in this node's copy of the table (`null`: it holds none). */
  readonly counts: Readonly<Record<ConsoleFlowState, number>> | null;
  /** Where `counts` come from: this node masters the device, backs it up, or neither. */
  readonly copy: "master" | "backup" | "none";
  /** When the master last moved away from a node (ms since the epoch), if this node saw it. */
  readonly lastFailoverAt: number | null;
}

/** A term change of one device: when it started (sync start) and when it became active. */
export interface TermChange {
  readonly device: string;
  readonly term: number;
  readonly master: string | null;
  readonly previousMaster: string | null;
  readonly previousTerm: number | null;
  /** The master moved away from a node that was not running any more. */
  readonly failover: boolean;
  /** When the term started, as this node saw it: the new master starts synchronizing. */
  readonly startedAt: number;
  /** When the term was published active (synchronized), or `null` while it is not. */
  readonly activatedAt: number | null;
  /** When a newer term replaced this one before it became active (it never will), else `null`. */
  readonly supersededAt: number | null;
}

/** One sample of every known node's figures. */
export interface MetricsSample {
  /** ms since the epoch. */
  readonly t: number;
  readonly nodes: Readonly<Record<string, NodeFigures>>;
}

/** Everything the page shows, sent first on every event stream. */
export interface ConsoleSnapshot {
  readonly self: string;
  /** Whether nodes can be stopped and started from the page (`--local`). */
  readonly admin: boolean;
  /**
   * What the page can do to a node: `stop` (graceful: a planned hand-over) and `start` through
   * the REST API, `crash` (no hand-over: the failure detectors convict it) through the console's
   * own `POST /ui/api/nodes/{id}/crash`, when the node offers it.
   */
  readonly adminActions: readonly ("stop" | "start" | "crash")[];
  readonly serverTime: number;
  readonly nodes: readonly ConsoleNode[];
  readonly devices: readonly ConsoleDevice[];
  /** Newest last. */
  readonly timeline: readonly TermChange[];
  /** Oldest first, one a second. */
  readonly history: readonly MetricsSample[];
}

/** The events of `GET /ui/api/events` (the SSE event name is `type`). */
export type ConsoleEvent =
  | ({ readonly type: "snapshot" } & ConsoleSnapshot)
  | { readonly type: "nodes"; readonly nodes: readonly ConsoleNode[] }
  | { readonly type: "devices"; readonly devices: readonly ConsoleDevice[] }
  | { readonly type: "term"; readonly change: TermChange }
  | { readonly type: "metrics"; readonly sample: MetricsSample };

/** One flow as the flow view lists it. */
export interface ConsoleFlow {
  /** The 64-bit flow id, in decimal. */
  readonly id: string;
  readonly state: ConsoleFlowState;
  readonly appId: number;
  /** The application's name, when the node knows it. */
  readonly appName: string | null;
  readonly priority: number;
  readonly tableId: number;
  /** The criteria, one `TYPE:value` each. */
  readonly selector: string;
  /** The instructions, one `TYPE:value` each. */
  readonly treatment: string;
  readonly packets: number;
  readonly bytes: number;
  readonly life: number;
  readonly permanent: boolean;
}

/** A page of `GET /ui/api/devices/{id}/flows`. */
export interface FlowPage {
  readonly device: string;
  /** Entries matching the filter (so far, while `complete` is false). */
  readonly total: number;
  /**
   * Whether `total` is final. A filter other than the state alone needs a walk over the
   * table; the node answers within a few tens of ms with what it has and walks on: ask again.
   */
  readonly complete: boolean;
  readonly offset: number;
  readonly limit: number;
  readonly flows: readonly ConsoleFlow[];
  /**
   * Which copy was read: this node's as master; its backup copy (filtered and paged here, the
   * page's entries then read on the master for their counters, which are not replicated); or
   * the master's over the network.
   */
  readonly source: "master" | "backup" | "remote";
  /** Time the node took to answer (ms). */
  readonly tookMs: number;
}

/** A console API error (4xx), naming the query field at fault. */
export interface ConsoleError {
  readonly code: string;
  readonly message: string;
  readonly path?: string;
}
