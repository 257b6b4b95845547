/**
 * Where a node's busy time goes, from a V8 CPU profile (`node --cpu-prof`): each sample is
 * put in the first category (in the order of {@link CATEGORIES}) that one of its stack's
 * frames belongs to — or, for a category of a frame's own time only, that its innermost frame
 * belongs to — so the shares add up to the busy time and no time is counted twice.
 * Idle samples are left out; `from` and `to` keep the window a load was driven in.
 */

/** The parts of a `.cpuprofile` this reads. */
export interface CpuProfile {
  readonly nodes: readonly {
    readonly id: number;
    readonly callFrame: { readonly functionName: string; readonly url: string };
    readonly children?: readonly number[];
  }[];
  readonly startTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

type Frame = CpuProfile["nodes"][number]["callFrame"];

export interface Category {
  readonly name: string;
  readonly matches: (frame: Frame) => boolean;
  /**
   * Only the time spent in the matching frame itself counts (what it calls counts as its
   * own): for a frame that goes on to run other parts, as the body parser runs the request's
   * handler when it hands over the body.
   */
  readonly ownTimeOnly?: boolean;
}

/**
 * Frames of `files` (a pattern of paths under `src/`, no extension) in the workspace package
 * or app `project`: from its TypeScript sources or its built `dist/`.
 */
const inFiles = (project: string, files: string) => {
  const pattern = new RegExp(`${project}/(?:dist/)?(?:src/)?(?:${files})\\.[jt]s$`);
  return (frame: Frame) => pattern.test(frame.url);
};
const named = (name: string) => (frame: Frame) => frame.functionName === name;
const parsesBodies = inFiles("apps/node", "http/server");
const restFiles = inFiles("apps/node", "http/[^/]+");

/**
 * The write path's parts, most specific first: what REST ingest through a device's master
 * costs a node. The ceiling of the ingest bench does only the second (parsing the bodies).
 */
export const CATEGORIES: readonly Category[] = [
  { name: "garbage collector", matches: named("(garbage collector)") },
  {
    // The body parser the node's server registers: JSON.parse of each request's body (a
    // transpiler may add a digit to its name). Fastify runs the handler from it.
    name: "REST bodies parsed (JSON.parse: the ceiling's work)",
    matches: (frame) => /^parseJsonBody\d*$/.test(frame.functionName) && parsesBodies(frame),
    ownTimeOnly: true,
  },
  { name: "flow rules built from REST JSON (parseFlowRule)", matches: named("parseFlowRule") },
  { name: "backups: messages encoded", matches: named("packTyped") },
  {
    name: "backups: what each backup is owed (ledger, deltas)",
    matches: inFiles("ec-flow-store", "internal/(?:replicator|backupLedger)"),
  },
  { name: "device reports applied (PENDING_ADD to ADDED)", matches: named("applyDeviceReport") },
  {
    name: "simulated switches (install, report)",
    matches: inFiles("apps/node", "deviceSimulator|flowManager"),
  },
  {
    name: "batches applied to the store",
    matches: inFiles("ec-flow-store", "internal/(?:batchApplier|batchSender)"),
  },
  {
    name: "cluster messages (decoding, sockets)",
    matches: (frame) =>
      frame.url.includes("cluster-messaging/") || inFiles("ec-flow-store", "storeMessaging")(frame),
  },
  {
    name: "the rest of each REST request and answer",
    matches: (frame) =>
      restFiles(frame) || /\/fastify\/|node:_http_|\/find-my-way\//.test(frame.url),
  },
];

export interface BudgetLine {
  readonly category: string;
  /** Busy time in the category, µs. */
  readonly micros: number;
  /** Its share of the busy time, 0…1. */
  readonly share: number;
}

export interface Budget {
  /** Busy (not idle) time in the window, µs. */
  readonly busyMicros: number;
  /** Every category with time in it, the most first; `other` for samples none matched. */
  readonly lines: readonly BudgetLine[];
}

/** The budget of `profile` between `fromSeconds` and `toSeconds` after it started. */
export function profileBudget(
  profile: CpuProfile,
  options: { readonly fromSeconds?: number; readonly toSeconds?: number } = {},
  categories: readonly Category[] = CATEGORIES,
): Budget {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parent.set(child, node.id);
  const first = (frame: Frame | undefined, ownTime: boolean) =>
    frame === undefined
      ? -1
      : categories.findIndex((c) => (c.ownTimeOnly === true) === ownTime && c.matches(frame));
  // A node's category from its own frame and its callers' (memoized: stacks share nodes):
  // the first category in the list wins, wherever in the stack its frame is.
  const inStack = new Map<number, number>();
  const stackCategory = (id: number): number => {
    const known = inStack.get(id);
    if (known !== undefined) return known;
    const own = first(byId.get(id)?.callFrame, false);
    const up = parent.get(id);
    const caller = up === undefined ? categories.length : stackCategory(up);
    const found = own >= 0 && own < caller ? own : caller;
    inStack.set(id, found);
    return found;
  };
  // A sample's: its innermost frame's own-time category, if it has one, else the stack's.
  const ofSample = new Map<number, number>();
  const sampleCategory = (id: number): number => {
    let found = ofSample.get(id);
    if (found === undefined) {
      const own = first(byId.get(id)?.callFrame, true);
      found = own >= 0 ? own : stackCategory(id);
      ofSample.set(id, found);
    }
    return found;
  };
  const from = (options.fromSeconds ?? 0) * 1e6;
  const to = options.toSeconds === undefined ? Infinity : options.toSeconds * 1e6;
  const micros = new Array<number>(categories.length + 1).fill(0);
  let busy = 0;
  for (const { at, id, spent } of busySamples(profile)) {
    if (at < from || at > to) continue;
    busy += spent;
    micros[sampleCategory(id)]! += spent;
  }
  const lines = micros
    .map((spent, i) => ({
      category: categories[i]?.name ?? "other",
      micros: spent,
      share: busy === 0 ? 0 : spent / busy,
    }))
    .filter((line) => line.micros > 0)
    .sort((a, b) => b.micros - a.micros);
  return { busyMicros: busy, lines };
}

/**
 * The busy share (0…1) of each second of `profile`, from its start: where a load was driven,
 * to pick the window of {@link profileBudget}.
 */
export function busyBySecond(profile: CpuProfile): number[] {
  const busy: number[] = [];
  for (const { at, spent } of busySamples(profile)) {
    const second = Math.floor(at / 1e6);
    while (busy.length <= second) busy.push(0);
    busy[second]! += spent / 1e6;
  }
  return busy.map((share) => Math.min(1, share));
}

/**
 * The samples that are not idle: when each was taken (µs after the profile started), its
 * node, and the time it stands for (until the next sample).
 */
function* busySamples(profile: CpuProfile): Iterable<{ at: number; id: number; spent: number }> {
  const idle = new Set(
    profile.nodes.filter((node) => node.callFrame.functionName === "(idle)").map((n) => n.id),
  );
  let at = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    const id = profile.samples[i] as number;
    if (!idle.has(id)) yield { at, id, spent: profile.timeDeltas[i + 1] ?? 0 };
  }
}
