import { describe, expect, it } from "vitest";
import { checkHistory, type FaultEvent, type FlowRecord, type Listing } from "./faultRun.js";

const D1 = "of:0000000000000001";
const D2 = "of:0000000000000002";

const kill: FaultEvent = {
  kind: "kill",
  node: "n1",
  at: 10_000,
  forMs: 1000,
  mastered: [D1],
  writesAgainMs: [120],
  masterMovedMs: [100],
};

const listing = (...ids: string[]): Listing =>
  new Map(ids.map((id) => [id, { deviceId: id.startsWith("b") ? D2 : D1, state: "ADDED" }]));

function check(flows: FlowRecord[], listings: Listing[], faults: FaultEvent[] = [kill]) {
  return checkHistory({
    seed: 7,
    flows: new Map(flows.map((flow) => [flow.flowId, flow])),
    faults,
    listings,
    terms: new Map([[D1, new Set([3, 9])]]),
    asyncWindowMs: 100,
    requests: flows.length,
    failedRequests: 0,
    convictions: 2,
  });
}

describe("the fault run's history check", () => {
  it("passes a history where every acknowledged add is listed everywhere and no deleted flow is", () => {
    const report = check(
      [
        { flowId: "a1", deviceId: D1, addAckAt: 100, addVia: "n2" },
        { flowId: "a2", deviceId: D1, addAckAt: 200, deleteSentAt: 300, deleteAckAt: 310 },
        // Neither acknowledged nor listed: proves nothing either way.
        { flowId: "a3", deviceId: D1, addAckAt: 400, deleteSentAt: 500, deleteUncertain: true },
      ],
      [listing("a1"), listing("a1"), listing("a1")],
    );
    expect(report.lost).toEqual([]);
    expect(report.asyncWindowLost).toEqual([]);
    expect(report.resurrected).toEqual([]);
    expect(report.divergent).toEqual([]);
    expect(report.acknowledgedAdds).toBe(3);
    expect(report.acknowledgedDeletes).toBe(1);
    expect(report.lines.join("\n")).not.toContain("FAILED");
  });

  it("tells losses in the asynchronous window of a kill -9 from other losses", () => {
    const report = check(
      [
        // Acknowledged 50 ms before its master was killed: the asynchronous window.
        { flowId: "w", deviceId: D1, addAckAt: 9_950 },
        // Acknowledged long before, or on a device the killed node did not master: lost.
        { flowId: "old", deviceId: D1, addAckAt: 5_000 },
        { flowId: "b-other", deviceId: D2, addAckAt: 9_990 },
      ],
      [listing(), listing(), listing()],
    );
    expect(report.asyncWindowLost.map((f) => f.flowId)).toEqual(["w"]);
    expect(report.lost.map((f) => f.flowId).sort()).toEqual(["b-other", "old"]);
  });

  it("after a kill -9 of every node, tells writes within the disk's window from older ones, on every device", () => {
    const killAll: FaultEvent = {
      kind: "killAll",
      node: "n1",
      at: 20_000,
      forMs: 800,
      mastered: [D1, D2],
      writesAgainMs: [],
      masterMovedMs: [],
    };
    const report = check(
      [
        // Acknowledged 250 ms before every node was killed: maybe not on any disk yet.
        { flowId: "w", deviceId: D1, addAckAt: 19_750 },
        { flowId: "b-w", deviceId: D2, addAckAt: 19_900 },
        // Acknowledged 400 ms before: a commit (every 100 ms) had written it.
        { flowId: "old", deviceId: D1, addAckAt: 19_600 },
      ],
      [listing(), listing(), listing()],
      [killAll],
    );
    expect(report.asyncWindowLost.map((f) => f.flowId).sort()).toEqual(["b-w", "w"]);
    expect(report.lost.map((f) => f.flowId)).toEqual(["old"]);
    expect(report.lines.join("\n")).toContain("1 kill -9 of every node");
    expect(report.lines.join("\n")).toContain("≤ 300 ms before a kill -9 of every node");
  });

  it("lists a lost flow's events in time order, marking the faults that struck its device", () => {
    const other: FaultEvent = { ...kill, node: "n3", at: 4_000, mastered: [D2] };
    const report = check(
      [{ flowId: "old", deviceId: D1, addAckAt: 5_000, addVia: "n2" }],
      [listing(), listing(), listing()],
      [kill, other],
    );
    expect(report.lost[0]?.events).toEqual([
      "4000 ms: kill n3 (mastered of:0000000000000002)",
      "5000 ms: add acknowledged by n2",
      "10000 ms: kill n1 (mastered of:0000000000000001) <- its device",
      "at the end: listed by nobody",
    ]);
  });

  it("tells deletes resurrected in the asynchronous window of a kill -9 from other resurrections", () => {
    const report = check(
      [
        // Acknowledged 13 ms before its master was killed: the asynchronous window.
        { flowId: "w", deviceId: D1, addAckAt: 100, deleteSentAt: 9_980, deleteAckAt: 9_987 },
        // Acknowledged long before, or on a device the killed node did not master.
        { flowId: "old", deviceId: D1, addAckAt: 100, deleteSentAt: 5_000, deleteAckAt: 5_010 },
        { flowId: "b-other", deviceId: D2, addAckAt: 100, deleteSentAt: 9_980, deleteAckAt: 9_990 },
      ],
      [
        listing("w", "old", "b-other"),
        listing("w", "old", "b-other"),
        listing("w", "old", "b-other"),
      ],
    );
    expect(report.asyncWindowResurrected.map((f) => f.flowId)).toEqual(["w"]);
    expect(report.resurrected.map((f) => f.flowId).sort()).toEqual(["b-other", "old"]);
    expect(report.lines.join("\n")).toContain("resurrected deletes: 2, in the window: 1");
  });

  it("finds resurrected deletes and divergence, and prints the seed with each flow's timeline", () => {
    const report = check(
      [
        { flowId: "gone", deviceId: D1, addAckAt: 100, deleteSentAt: 200, deleteAckAt: 210 },
        { flowId: "split", deviceId: D1, addAckAt: 100, addVia: "n3" },
      ],
      [listing("gone", "split"), listing("gone"), listing("gone", "split")],
    );
    expect(report.resurrected.map((f) => f.flowId)).toEqual(["gone"]);
    expect(report.divergent.map((f) => f.flowId)).toEqual(["split"]);
    const text = report.lines.join("\n");
    expect(text).toContain("replay with seed 7");
    expect(text).toContain(`${D1}/split: 100 ms: add acknowledged by n3`);
    expect(text).toContain("at the end: listed by n1 n3");
  });
});
