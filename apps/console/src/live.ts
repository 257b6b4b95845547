import type {
  ConsoleDevice,
  ConsoleEvent,
  ConsoleNode,
  MetricsSample,
  TermChange,
} from "./protocol";

/** How long a device whose master moved stays highlighted (ms). */
export const HIGHLIGHT_MS = 10_000;

/** What the page knows, folded from the node's event stream. */
export interface LiveState {
  /** Whether the event stream is open. */
  readonly connected: boolean;
  /** Whether a snapshot has arrived (the page has something to show). */
  readonly loaded: boolean;
  readonly self: string;
  readonly admin: boolean;
  /** What the page may do to nodes (stop, start, crash). */
  readonly adminActions: readonly ("stop" | "start" | "crash")[];
  /** The node's clock minus the page's (ms), to show the node's times in page time. */
  readonly clockOffset: number;
  readonly nodes: readonly ConsoleNode[];
  /** By device id, in id order. */
  readonly devices: readonly ConsoleDevice[];
  /** Newest last. */
  readonly timeline: readonly TermChange[];
  /** Oldest first. */
  readonly history: readonly MetricsSample[];
  /** When the page saw each device's master change (page clock, ms). */
  readonly movedAt: Readonly<Record<string, number>>;
  /** When the page received the last event (page clock, ms). */
  readonly lastEventAt: number;
}

/** The state before the first snapshot. */
export const INITIAL_STATE: LiveState = {
  connected: false,
  loaded: false,
  self: "",
  admin: false,
  adminActions: [],
  clockOffset: 0,
  nodes: [],
  devices: [],
  timeline: [],
  history: [],
  movedAt: {},
  lastEventAt: 0,
};

/** Samples kept on the page (ten minutes at one a second). */
export const HISTORY_SIZE = 600;
/** Term changes kept on the page. */
export const TIMELINE_SIZE = 500;

/** The state after `event`, received at page time `now`. */
export function reduce(state: LiveState, event: ConsoleEvent, now: number): LiveState {
  switch (event.type) {
    case "snapshot": {
      const movedAt: Record<string, number> = {};
      const before = new Map(state.devices.map((d) => [d.id, d]));
      for (const device of event.devices) {
        const old = before.get(device.id);
        if (old !== undefined && old.master !== device.master) movedAt[device.id] = now;
        else if (state.movedAt[device.id] !== undefined)
          movedAt[device.id] = state.movedAt[device.id]!;
      }
      return {
        connected: true,
        loaded: true,
        self: event.self,
        admin: event.admin,
        adminActions: event.adminActions,
        clockOffset: event.serverTime - now,
        nodes: event.nodes,
        devices: [...event.devices].sort(byId),
        timeline: event.timeline.slice(-TIMELINE_SIZE),
        history: event.history.slice(-HISTORY_SIZE),
        movedAt,
        lastEventAt: now,
      };
    }
    case "nodes":
      return { ...state, nodes: event.nodes, lastEventAt: now };
    case "devices": {
      const byDevice = new Map(state.devices.map((d) => [d.id, d]));
      const movedAt = { ...state.movedAt };
      for (const device of event.devices) {
        const old = byDevice.get(device.id);
        if (old !== undefined && old.master !== device.master) movedAt[device.id] = now;
        byDevice.set(device.id, device);
      }
      return {
        ...state,
        devices: [...byDevice.values()].sort(byId),
        movedAt,
        lastEventAt: now,
      };
    }
    case "term": {
      const change = event.change;
      const index = state.timeline.findIndex(
        (c) => c.device === change.device && c.term === change.term,
      );
      const timeline =
        index >= 0
          ? state.timeline.map((c, i) => (i === index ? change : c))
          : [...state.timeline, change].slice(-TIMELINE_SIZE);
      return { ...state, timeline, lastEventAt: now };
    }
    case "metrics":
      return {
        ...state,
        history: [...state.history, event.sample].slice(-HISTORY_SIZE),
        lastEventAt: now,
      };
    default: {
      const never: never = event;
      throw new Error(`unexpected console event ${JSON.stringify(never)}`);
    }
  }
}

function byId(a: { id: string }, b: { id: string }): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Whether `device`'s master moved within {@link HIGHLIGHT_MS} of `now`. */
export function recentlyMoved(state: LiveState, device: string, now: number): boolean {
  const at = state.movedAt[device];
  return at !== undefined && now - at < HIGHLIGHT_MS;
}

/** How long a term took to become active (ms), or `null` while it is synchronizing (or never was). */
export function syncTime(change: TermChange): number | null {
  return change.activatedAt === null ? null : change.activatedAt - change.startedAt;
}

/** Every device has a master and an active term. */
export function settled(state: LiveState): boolean {
  return state.devices.every((d) => d.master !== null && d.termState === "ACTIVE");
}
