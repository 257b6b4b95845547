import { type NodeId, nodeId } from "@flowstore/cluster-messaging";
import { type DeviceId, deviceId } from "@flowstore/flow-bucket";
import type { Mastership, ReplicaInfo } from "@flowstore/mastership";
import fc from "fast-check";
import { Subject } from "rxjs";
import { describe, expect, it } from "vitest";
import { deviceLifecycle$, type LifecycleEvent } from "./lifecycle.js";

const device = deviceId("of:00000000000000f2");
const nodes = [nodeId("n1"), nodeId("n2"), nodeId("n3")];

/** A mastership view of one device whose infos and activations the test pushes. */
function fakeMastership() {
  const infos = new Subject<ReplicaInfo>();
  const activations = new Subject<number>();
  const view = {
    info$: () => infos.asObservable(),
    activeTerm$: () => activations.asObservable(),
  } as unknown as Mastership<DeviceId>;
  return { view, infos, activations };
}

type Input =
  | { kind: "info"; term: number; master: number | null; backups: number[] }
  | { kind: "activation"; term: number };

const input: fc.Arbitrary<Input> = fc.oneof(
  fc.record({
    kind: fc.constant("info" as const),
    term: fc.integer({ min: 1, max: 10 }),
    master: fc.option(fc.nat({ max: 2 }), { nil: null }),
    backups: fc.subarray([0, 1, 2]),
  }),
  fc.record({ kind: fc.constant("activation" as const), term: fc.integer({ min: 1, max: 10 }) }),
);

describe("deviceLifecycle$", () => {
  it("folds any order of infos and activations into a well-formed term lifecycle", () => {
    fc.assert(
      fc.property(fc.array(input, { maxLength: 40 }), (inputs) => {
        const { view, infos, activations } = fakeMastership();
        const events: LifecycleEvent[] = [];
        const subscription = deviceLifecycle$(view, device).subscribe((e) => events.push(e));
        // The coordinator's contract: a term has one master; with no master the term is the
        // last one there was, and a later master comes with a newer term.
        const masters = new Map<number, NodeId>();
        const masterless = new Set<number>();
        let newest = 0;
        for (const i of inputs) {
          if (i.kind === "activation") {
            activations.next(i.term);
            continue;
          }
          const backups = i.backups.map((b) => nodes[b]!);
          if (i.master === null) {
            if (i.term < newest) continue;
            masterless.add(i.term);
            newest = i.term;
            infos.next({ term: i.term, master: undefined, backups });
            continue;
          }
          if (masterless.has(i.term)) continue;
          const master = masters.get(i.term) ?? nodes[i.master]!;
          masters.set(i.term, master);
          newest = Math.max(newest, i.term);
          infos.next({ term: i.term, master, backups });
        }
        subscription.unsubscribe();
        // Terms start in increasing order; TERM_ACTIVE, TERM_UPDATE and TERM_END are of the
        // term that started last, each TERM_ACTIVE at most once, and nothing follows an end
        // but a new start.
        let current: ReplicaInfo | undefined;
        let ended = true;
        let activeOnce = false;
        for (const event of events) {
          switch (event.type) {
            case "TERM_START":
              expect(ended).toBe(true);
              if (current !== undefined) expect(event.info.term).toBeGreaterThan(current.term);
              expect(event.info.master).toBeDefined();
              current = event.info;
              ended = false;
              activeOnce = false;
              break;
            case "TERM_ACTIVE":
              expect(ended).toBe(false);
              expect(event.info.term).toBe(current?.term);
              expect(activeOnce).toBe(false);
              activeOnce = true;
              break;
            case "TERM_UPDATE":
              expect(ended).toBe(false);
              expect(event.info.term).toBe(current?.term);
              break;
            case "TERM_END":
              expect(ended).toBe(false);
              expect(event.info.term).toBe(current?.term);
              ended = true;
              break;
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it("a term activated before its info arrives is announced once the info comes", () => {
    const { view, infos, activations } = fakeMastership();
    const events: string[] = [];
    deviceLifecycle$(view, device).subscribe((e) => events.push(`${e.type}:${e.info.term}`));
    infos.next({ term: 1, master: nodes[0], backups: [nodes[1]!] });
    activations.next(1);
    activations.next(3);
    infos.next({ term: 3, master: nodes[1], backups: [nodes[0]!] });
    expect(events).toEqual([
      "TERM_START:1",
      "TERM_ACTIVE:1",
      "TERM_END:1",
      "TERM_START:3",
      "TERM_ACTIVE:3",
    ]);
  });
});
