import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type NodeId, nodeId } from "../../cluster.js";
import type { ReplicaInfo } from "../../mastership.js";
import { type BalanceInput, planHandoffs } from "./balance.js";

const [n1, n2, n3] = [nodeId("n1"), nodeId("n2"), nodeId("n3")];

/** A view's state from each key's candidates, in order (master first). */
function stateOf(
  orders: ReadonlyMap<string, readonly NodeId[]>,
): Omit<BalanceInput<string>, "me" | "settled"> {
  const candidates = new Map<string, Map<NodeId, number>>();
  const infos = new Map<string, ReplicaInfo>();
  const mastered = new Map<NodeId, Set<string>>();
  for (const [key, order] of orders) {
    candidates.set(key, new Map(order.map((node, i) => [node, i + 1])));
    const [master, ...backups] = order;
    infos.set(key, { term: 1, master, backups });
    if (master === undefined) continue;
    const set = mastered.get(master) ?? new Set<string>();
    mastered.set(master, set);
    set.add(key);
  }
  return { candidates, infos, mastered };
}

function plan(
  me: NodeId,
  orders: Record<string, readonly NodeId[]>,
  settled: (node: NodeId) => boolean = () => true,
): string[] {
  return planHandoffs({ ...stateOf(new Map(Object.entries(orders))), me, settled });
}

describe("balance planning", () => {
  it("hands keys to a next candidate with at least two fewer, until the gap closes", () => {
    const orders = { k1: [n1, n2], k2: [n1, n2], k3: [n1, n2], k4: [n1, n2] };
    expect(plan(n1, orders)).toEqual(["k1", "k2"]);
    expect(plan(n2, orders)).toEqual([]);
  });

  it("hands off keys whose term is active first, so a synchronizing master keeps its key", () => {
    const state = stateOf(new Map(Object.entries({ k1: [n1, n2], k2: [n1, n2] })));
    const settled = () => true;
    // k1's master is still synchronizing (a big table loaded from disk): k2 goes instead.
    expect(planHandoffs({ ...state, me: n1, settled, active: (key) => key !== "k1" })).toEqual([
      "k2",
    ]);
    // With none active, the keys go in their usual order.
    expect(planHandoffs({ ...state, me: n1, settled, active: () => false })).toEqual(["k1"]);
  });

  it("leaves counts within one as they are", () => {
    expect(plan(n1, { k1: [n1, n2], k2: [n1, n2], k3: [n2, n1] })).toEqual([]);
  });

  it("hands nothing to a node that has not been up for rebalanceDelay", () => {
    const orders = { k1: [n1, n2], k2: [n1, n2], k3: [n1, n2], k4: [n1, n2] };
    expect(plan(n1, orders, (node) => node !== n2)).toEqual([]);
  });

  it("passes keys towards an idle node deep in the order through a next candidate no busier", () => {
    // n3 (idle) is only ever third; n2 is next everywhere and masters one key fewer than n1.
    const orders = {
      k1: [n1, n2, n3],
      k2: [n1, n2, n3],
      k3: [n1, n2, n3],
      k4: [n1, n2, n3],
      k5: [n2, n1, n3],
      k6: [n2, n1, n3],
      k7: [n2, n1, n3],
    };
    // n1 has 4, n2 3, n3 0: k1 goes to n2 (then at 4), after which n2 is busier than n1.
    expect(plan(n1, orders)).toEqual(["k1"]);
    expect(plan(n2, orders)).toEqual([]);
  });

  it("converges to counts within one when every node runs for every key", () => {
    const nodes = [n1, n2, n3, nodeId("n4"), nodeId("n5")];
    const arbitrary = fc.integer({ min: 2, max: 5 }).chain((size) =>
      fc.tuple(
        fc.constant(size),
        fc.array(fc.shuffledSubarray(nodes.slice(0, size), { minLength: size }), {
          maxLength: 30,
        }),
      ),
    );
    fc.assert(
      fc.property(arbitrary, ([size, initial]) => {
        const orders = new Map(initial.map((order, i) => [`k${i}`, [...order]]));
        let rounds = 0;
        for (let moved = true; moved; rounds++) {
          expect(rounds).toBeLessThan(100);
          moved = false;
          for (const me of nodes.slice(0, size)) {
            const handoffs = planHandoffs({ ...stateOf(orders), me, settled: () => true });
            for (const key of handoffs) {
              // A hand-off re-campaigns: the giver goes to the back of the key's order.
              const order = orders.get(key) ?? [];
              orders.set(key, [...order.filter((node) => node !== me), me]);
              moved = true;
            }
          }
        }
        const { mastered } = stateOf(orders);
        const counts = nodes.slice(0, size).map((node) => mastered.get(node)?.size ?? 0);
        expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
      }),
    );
  });
});
