import { describe, expect, it } from "vitest";
import { INITIAL_STATE, type LiveState, recentlyMoved, reduce, settled, syncTime } from "./live";
import type { ConsoleDevice, ConsoleSnapshot, TermChange } from "./protocol";

const device = (id: string, master: string | null, term: number): ConsoleDevice => ({
  id,
  available: true,
  master,
  backups: [],
  term,
  activeTerm: term,
  termState: master === null ? "NONE" : "ACTIVE",
  counts: null,
  copy: "none",
  lastFailoverAt: null,
});

const snapshot: ConsoleSnapshot = {
  self: "n1",
  admin: true,
  adminActions: ["stop", "start"],
  serverTime: 10_500,
  nodes: [],
  devices: [device("of:2", "n2", 3), device("of:1", "n1", 1)],
  timeline: [],
  history: [],
};

const loaded = (): LiveState => reduce(INITIAL_STATE, { type: "snapshot", ...snapshot }, 10_000);

describe("the page's live state", () => {
  it("starts from a snapshot, devices in id order, with the node's clock offset", () => {
    const state = loaded();
    expect(state.loaded).toBe(true);
    expect(state.devices.map((d) => d.id)).toEqual(["of:1", "of:2"]);
    expect(state.clockOffset).toBe(500);
    expect(settled(state)).toBe(true);
  });

  it("replaces changed device rows and marks the ones whose master moved", () => {
    const state = reduce(loaded(), { type: "devices", devices: [device("of:2", "n3", 4)] }, 20_000);
    expect(state.devices.find((d) => d.id === "of:2")?.master).toBe("n3");
    expect(recentlyMoved(state, "of:2", 25_000)).toBe(true);
    expect(recentlyMoved(state, "of:2", 40_000)).toBe(false);
    expect(recentlyMoved(state, "of:1", 25_000)).toBe(false);
    const none = reduce(state, { type: "devices", devices: [device("of:1", null, 1)] }, 21_000);
    expect(settled(none)).toBe(false);
  });

  it("adds a term change, then completes it when the term becomes active", () => {
    const change: TermChange = {
      device: "of:2",
      term: 4,
      master: "n3",
      previousMaster: "n2",
      previousTerm: 3,
      failover: true,
      startedAt: 1000,
      activatedAt: null,
      supersededAt: null,
    };
    let state = reduce(loaded(), { type: "term", change }, 20_000);
    expect(state.timeline).toHaveLength(1);
    expect(syncTime(state.timeline[0]!)).toBeNull();
    state = reduce(state, { type: "term", change: { ...change, activatedAt: 1250 } }, 20_100);
    expect(state.timeline).toHaveLength(1);
    expect(syncTime(state.timeline[0]!)).toBe(250);
  });

  it("keeps ten minutes of samples", () => {
    let state = loaded();
    for (let t = 0; t < 700; t++) {
      state = reduce(state, { type: "metrics", sample: { t: t * 1000, nodes: {} } }, t);
    }
    expect(state.history).toHaveLength(600);
    expect(state.history[0]!.t).toBe(100_000);
  });
});
