import { nodeId } from "@flowstore/cluster-messaging";
import { deviceId } from "@flowstore/flow-bucket";
import type { ReplicaInfo } from "@flowstore/mastership";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { TermFence } from "./termFence.js";

const device = deviceId("of:00000000000000f1");
const [n1, n2, n3] = [nodeId("n1"), nodeId("n2"), nodeId("n3")];
const term = (t: number, master = n1, backups = [n2, n3]): ReplicaInfo => ({
  term: t,
  master,
  backups,
});

/** n1's fence, master of an active term 5. */
function activeMaster(): TermFence {
  const fence = new TermFence(device, n1);
  fence.start(term(5));
  fence.activated(term(5));
  return fence;
}

describe("TermFence: writes", () => {
  it("runs a write only on the master of the current, active term", () => {
    const fence = new TermFence(device, n1);
    expect(fence.admitWrite(true)).toMatchObject({ kind: "refuse", error: { code: "NOT_MASTER" } });
    fence.start(term(5));
    expect(fence.admitWrite(true)).toEqual({ kind: "queue" });
    fence.activated(term(5));
    expect(fence.admitWrite(true)).toEqual({ kind: "run", term: 5 });
    const backup = new TermFence(device, n2);
    backup.start(term(5));
    backup.activated(term(5));
    expect(backup.admitWrite(true)).toMatchObject({
      kind: "refuse",
      error: { code: "NOT_MASTER" },
    });
  });

  it("NOT_MASTER while the lease is not provably fresh", () => {
    const fence = activeMaster();
    expect(fence.admitWrite(false)).toMatchObject({
      kind: "refuse",
      error: { code: "NOT_MASTER" },
    });
    expect(fence.admitWrite(true).kind).toBe("run");
  });

  it("STALE_TERM once a newer term is heard of, from any message", () => {
    const fence = activeMaster();
    fence.observe(6);
    expect(fence.admitWrite(true)).toMatchObject({
      kind: "refuse",
      error: { code: "STALE_TERM" },
    });
    expect(fence.isActiveMaster).toBe(false);
    // Knowledge only grows: an older term heard later changes nothing.
    fence.observe(3);
    expect(fence.knownTerm).toBe(6);
  });
});

describe("TermFence: backups", () => {
  it("takes a backup only in its own current term", () => {
    const fence = new TermFence(device, n2);
    fence.start(term(5));
    expect(fence.admitBackup(5)).toBeUndefined();
    expect(fence.admitBackup(4)).toBe("STALE_TERM");
    expect(fence.admitBackup(6)).toBe("UNKNOWN_TERM");
    // The newer term it was told of fences it, should it be the master of term 5.
    expect(fence.knownTerm).toBe(6);
  });

  it("a master told STALE_TERM by a backup stops writing; UNKNOWN_TERM does not fence it", () => {
    const fence = activeMaster();
    fence.backupRefused("UNKNOWN_TERM", 4);
    expect(fence.admitWrite(true).kind).toBe("run");
    fence.backupRefused("STALE_TERM", 7);
    expect(fence.admitWrite(true)).toMatchObject({ error: { code: "STALE_TERM" } });
  });
});

describe("TermFence: synchronization and forwarded requests", () => {
  it("refuses a syncing master of an older term; one of a newer term fences this node", () => {
    const fence = activeMaster();
    expect(() => fence.admitSync(4)).toThrow(expect.objectContaining({ code: "STALE_TERM" }));
    expect(fence.admitWrite(true).kind).toBe("run");
    fence.admitSync(9);
    expect(fence.admitWrite(true)).toMatchObject({ error: { code: "STALE_TERM" } });
  });

  it("a forwarded request from a sender with a newer term is STALE_TERM and fences; a non-master says NOT_MASTER", () => {
    const fence = activeMaster();
    expect(() => fence.admitForwarded(5, term(5))).not.toThrow();
    expect(() => fence.admitForwarded(5, term(5, n2))).toThrow(
      expect.objectContaining({ code: "NOT_MASTER" }),
    );
    expect(() => fence.admitForwarded(8, term(5))).toThrow(
      expect.objectContaining({ code: "STALE_TERM" }),
    );
    expect(fence.admitWrite(true)).toMatchObject({ error: { code: "STALE_TERM" } });
  });

  it("remembers the newest activated term with the backups it has now", () => {
    const fence = new TermFence(device, n1);
    fence.start(term(5, n1, [n2]));
    fence.update(term(5, n1, [n3]));
    fence.activated(term(5, n1, [n2])); // its own activation, with the info the term began with
    expect(fence.lastActivated).toEqual(term(5, n1, [n3]));
    expect(fence.activated(term(4, n2))).toBe(false);
    expect(fence.lastActivated?.term).toBe(5);
  });
});

describe("TermFence: a property", () => {
  it("whatever it hears, a node writes only as master of its newest known, active term", () => {
    type Step =
      | { kind: "start"; term: number; master: number }
      | { kind: "activate"; term: number; master: number }
      | { kind: "observe"; term: number }
      | { kind: "end"; term: number };
    const step: fc.Arbitrary<Step> = fc.oneof(
      fc.record({
        kind: fc.constant("start" as const),
        term: fc.integer({ min: 1, max: 12 }),
        master: fc.nat({ max: 2 }),
      }),
      fc.record({
        kind: fc.constant("activate" as const),
        term: fc.integer({ min: 1, max: 12 }),
        master: fc.nat({ max: 2 }),
      }),
      fc.record({ kind: fc.constant("observe" as const), term: fc.integer({ min: 0, max: 12 }) }),
      fc.record({ kind: fc.constant("end" as const), term: fc.integer({ min: 1, max: 12 }) }),
    );
    const nodes = [n1, n2, n3];
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
        const fence = new TermFence(device, n1);
        let heard = 0;
        for (const s of steps) {
          if (s.kind === "start" && s.term >= (fence.info?.term ?? 0)) {
            fence.start(term(s.term, nodes[s.master]!));
            heard = Math.max(heard, s.term);
          } else if (s.kind === "activate") {
            if (fence.activated(term(s.term, nodes[s.master]!))) heard = Math.max(heard, s.term);
          } else if (s.kind === "observe") {
            fence.observe(s.term);
            heard = Math.max(heard, s.term);
          } else if (s.kind === "end") {
            fence.end(term(s.term));
          }
          const admission = fence.admitWrite(true);
          if (admission.kind === "run") {
            const info = fence.info!;
            expect(info.master).toBe(n1);
            expect(admission.term).toBe(info.term);
            expect(info.term).toBe(fence.activeTerm);
            expect(info.term).toBeGreaterThanOrEqual(heard);
          }
          expect(fence.knownTerm).toBe(heard);
        }
      }),
      { numRuns: 500 },
    );
  });
});
