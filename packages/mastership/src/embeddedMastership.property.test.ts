import fc from "fast-check";
import { VirtualTimeScheduler } from "rxjs";
import { describe, expect, it } from "vitest";
import { type NodeId, nodeId } from "./cluster.js";
import { createEmbeddedCoordinator } from "./embeddedMastership.js";
import type { ReplicaInfo } from "./mastership.js";
import { TestMembership } from "./testing/testMembership.js";

const NODES = [nodeId("n1"), nodeId("n2"), nodeId("n3"), nodeId("n4")];
const KEYS = ["d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8"];

type Step =
  | { readonly op: "request" | "relinquish"; readonly node: number; readonly key: number }
  | { readonly op: "down" | "up"; readonly node: number }
  | { readonly op: "wait"; readonly ms: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    op: fc.constantFrom("request" as const, "relinquish" as const),
    node: fc.nat(3),
    key: fc.nat(8),
  }),
  fc.record({ op: fc.constantFrom("down" as const, "up" as const), node: fc.nat(3) }),
  fc.record({ op: fc.constant("wait" as const), ms: fc.integer({ min: 0, max: 3000 }) }),
);

describe("embedded coordinator under random requests, failures and recoveries", () => {
  it("keeps masters live, backups ordered and complete, terms growing — and ends balanced", () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const scheduler = new VirtualTimeScheduler();
        const membership = new TestMembership(NODES[0] as NodeId, NODES);
        const coordinator = createEmbeddedCoordinator<string>({
          membership,
          scheduler,
          rebalanceDelay: 1000,
        });
        const views = NODES.map((n) => coordinator.forNode(n));
        const candidates = new Map<string, Set<NodeId>>(KEYS.map((key) => [key, new Set()]));
        // Errors thrown in a subscriber do not reach the caller: collect, assert afterwards.
        const history = new Map<string, ReplicaInfo[]>(KEYS.map((key) => [key, []]));
        views[0]?.events$.subscribe(({ key, info }) => history.get(key)?.push(info));
        const advance = (ms: number): void => {
          const target = scheduler.frame + ms;
          scheduler.maxFrames = target;
          scheduler.flush();
          scheduler.frame = target;
        };
        const check = (): void => {
          for (const key of KEYS) {
            const info = coordinator.mastership(key);
            const live = [...(candidates.get(key) ?? [])].filter(
              (n) => membership.state(n) === "ACTIVE",
            );
            expect([info.master, ...info.backups].filter((n) => n !== undefined).sort()).toEqual(
              live.sort(),
            );
          }
        };
        for (const s of steps) {
          const node = NODES[s.op === "wait" ? 0 : s.node] as NodeId;
          switch (s.op) {
            case "request":
              void views[s.node]?.requestRoleFor(KEYS[s.key] as string);
              candidates.get(KEYS[s.key] as string)?.add(node);
              break;
            case "relinquish":
              void views[s.node]?.relinquish(KEYS[s.key] as string);
              candidates.get(KEYS[s.key] as string)?.delete(node);
              break;
            case "down":
            case "up":
              membership.setState(node, s.op === "down" ? "INACTIVE" : "ACTIVE");
              break;
            case "wait":
              advance(s.ms);
              break;
            default: {
              const never: never = s;
              throw new Error(`unknown step ${JSON.stringify(never)}`);
            }
          }
          check();
        }
        // Everyone up, every node a candidate for every key: after the delays, balanced.
        for (const n of NODES) membership.setState(n, "ACTIVE");
        for (const [i, view] of views.entries()) {
          for (const key of KEYS) {
            void view.requestRoleFor(key);
            candidates.get(key)?.add(NODES[i] as NodeId);
          }
        }
        advance(2000);
        check();
        for (const infos of history.values()) {
          for (let i = 1; i < infos.length; i++) {
            const before = infos[i - 1] as ReplicaInfo;
            const after = infos[i] as ReplicaInfo;
            expect(after.term).toBeGreaterThanOrEqual(before.term);
            if (after.master !== before.master && after.master !== undefined)
              expect(after.term).toBeGreaterThan(before.term);
          }
        }
        const counts = NODES.map((n) => coordinator.forNode(n).mastersOf(n).length);
        expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
        coordinator.close();
      }),
      { numRuns: 300 },
    );
  });
});
