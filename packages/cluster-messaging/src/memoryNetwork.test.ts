import { VirtualTimeScheduler } from "rxjs";
import { describe, expect, it } from "vitest";
import type { ClusterNode } from "./clusterNode.js";
import { createRecordingLogger } from "./logger.js";
import { createMemoryNetwork, type MemoryNetworkOptions } from "./memoryNetwork.js";
import { MessagingError } from "./messagingError.js";
import type { NodeId } from "./node.js";
import type { FailureDetectorOptions } from "./phiAccrualFailureDetector.js";
import { advance, advanceUntil, ids, text, utf8 } from "./testing/support.js";

const [n1, n2, n3] = ids(3) as [NodeId, NodeId, NodeId];
const fast: Partial<FailureDetectorOptions> = {
  heartbeatIntervalMs: 100,
  acceptablePauseMs: 500,
  minStdDeviationMs: 100,
};

async function network(options: Partial<MemoryNetworkOptions> = {}) {
  const scheduler = new VirtualTimeScheduler();
  const recorded = createRecordingLogger();
  const net = createMemoryNetwork({
    nodes: ["n1", "n2", "n3"],
    scheduler,
    logger: recorded.logger,
    failureDetector: fast,
    ...options,
  });
  const nodes = await Promise.all([n1, n2, n3].map((id) => net.start(id)));
  const trace: string[] = [];
  for (const node of nodes) watch(node, scheduler, trace);
  return {
    scheduler,
    net,
    nodes: nodes as [ClusterNode, ClusterNode, ClusterNode],
    trace,
    lines: recorded.lines,
  };
}

function watch(node: ClusterNode, scheduler: VirtualTimeScheduler, trace: string[]): void {
  node.membership.events$.subscribe((event) =>
    trace.push(`${scheduler.now()} ${node.id}: ${event.node} ${event.type}`),
  );
}

const sees = (node: ClusterNode, other: NodeId, state: "ACTIVE" | "INACTIVE") => () =>
  node.membership.state(other) === state;

const codeOf = (promise: Promise<unknown>) =>
  promise.then(
    () => "resolved",
    (error: unknown) => (error instanceof MessagingError ? error.code : String(error)),
  );

describe("in-memory network", () => {
  it("behaves like TCP: membership, one-way messages, requests and refusals", async () => {
    const { scheduler, nodes } = await network();
    const [a, b, c] = nodes;
    await advanceUntil(
      scheduler,
      () =>
        nodes.every((node) => [n1, n2, n3].every((id) => node.membership.state(id) === "ACTIVE")),
      "all ACTIVE",
    );
    const inbox: string[] = [];
    for (const node of [b, c]) {
      node.messaging
        .subscribe("note")
        .subscribe((m) => inbox.push(`${node.id}<-${m.from}:${text(m.payload)}`));
    }
    expect(a.messaging.broadcast("note", utf8("hi"))).toBe(2);
    expect(a.messaging.multicast([n1, n3], "note", utf8("multi"))).toBe(2);
    await advance(scheduler, 10);
    expect(inbox.sort()).toEqual(["n2<-n1:hi", "n3<-n1:hi", "n3<-n1:multi"]);

    b.messaging.serve("upper", async (payload) => utf8(text(payload).toUpperCase()));
    b.messaging.serve("fails", () => {
      throw new Error("nope");
    });
    b.messaging.subscribe("silent").subscribe(() => {});
    const ok = a.messaging.sendAndReceive(n2, "upper", utf8("abc"));
    const none = codeOf(a.messaging.sendAndReceive(n2, "nobody", utf8("?")));
    const failed = codeOf(a.messaging.sendAndReceive(n2, "fails", utf8("?")));
    const silent = codeOf(a.messaging.sendAndReceive(n2, "silent", utf8("?"), { timeoutMs: 300 }));
    await advance(scheduler, 299);
    let settled = false;
    void silent.then(() => {
      settled = true;
    });
    await advance(scheduler, 0);
    expect(settled).toBe(false); // not a millisecond early
    await advance(scheduler, 5);
    expect(text(await ok)).toBe("ABC");
    expect([await none, await failed, await silent]).toEqual([
      "NO_HANDLER",
      "HANDLER_ERROR",
      "TIMEOUT",
    ]);
    await expect(() => b.messaging.serve("upper", () => undefined)).toThrow(/already served/);
  });

  it("detects a crash, fails requests in flight as UNREACHABLE, and sees the restart", async () => {
    const { scheduler, net, nodes, trace } = await network();
    const [a, b] = nodes;
    await advanceUntil(scheduler, sees(a, n3, "ACTIVE"), "n3 ACTIVE");
    net
      .node(n3)
      ?.messaging.subscribe("slow")
      .subscribe(() => {});
    const inFlight = codeOf(
      a.messaging.sendAndReceive(n3, "slow", utf8("?"), { timeoutMs: 10_000 }),
    );
    await advance(scheduler, 5);
    await net.crash(n3);
    expect(await inFlight).toBe("UNREACHABLE");
    expect(await codeOf(a.messaging.sendAndReceive(n3, "slow", utf8("?")))).toBe("UNREACHABLE");
    const detectedIn = await advanceUntil(
      scheduler,
      () => sees(a, n3, "INACTIVE")() && sees(b, n3, "INACTIVE")(),
      "n3 INACTIVE",
      5000,
      5,
    );
    // heartbeat 100 ms + pause 500 ms + ~5.6 × 100 ms of deviation.
    expect(detectedIn).toBeGreaterThan(600);
    expect(detectedIn).toBeLessThan(1500);

    const again = await net.start(n3);
    watch(again, scheduler, trace);
    again.messaging.serve("who", () => utf8("n3 again"));
    await advanceUntil(
      scheduler,
      () => sees(a, n3, "ACTIVE")() && sees(again, n1, "ACTIVE")(),
      "n3 back",
    );
    expect(text(await withTime(scheduler, a.messaging.sendAndReceive(n3, "who", utf8("?"))))).toBe(
      "n3 again",
    );
    expect(trace.filter((line) => line.includes("n1: n3"))).toEqual([
      expect.stringMatching(/ n1: n3 NODE_ACTIVE$/),
      expect.stringMatching(/ n1: n3 NODE_INACTIVE$/),
      expect.stringMatching(/ n1: n3 NODE_ACTIVE$/),
    ]);
  });

  it("a partition convicts the other side on both sides; healing brings it back", async () => {
    const { scheduler, net, nodes } = await network();
    const [a, b, c] = nodes;
    await advanceUntil(
      scheduler,
      () => sees(a, n3, "ACTIVE")() && sees(c, n1, "ACTIVE")(),
      "all ACTIVE",
    );
    c.messaging.serve("echo", (payload) => payload);
    net.partition([n1, n2], [n3]);
    expect(
      await codeOf(
        withTime(scheduler, a.messaging.sendAndReceive(n3, "echo", utf8("?"), { timeoutMs: 200 })),
      ),
    ).toBe("TIMEOUT");
    await advanceUntil(
      scheduler,
      () =>
        sees(a, n3, "INACTIVE")() &&
        sees(b, n3, "INACTIVE")() &&
        sees(c, n1, "INACTIVE")() &&
        sees(c, n2, "INACTIVE")(),
      "both sides convicted",
      5000,
      5,
    );
    expect(a.membership.state(n2)).toBe("ACTIVE");
    net.heal();
    await advanceUntil(
      scheduler,
      () => sees(a, n3, "ACTIVE")() && sees(c, n1, "ACTIVE")(),
      "healed",
    );
    expect(
      text(await withTime(scheduler, a.messaging.sendAndReceive(n3, "echo", utf8("back")))),
    ).toBe("back");
  });

  it("with the default detector, a 2 s stall of a peer is tolerated and a 6 s silence is not", async () => {
    const { scheduler, net, nodes } = await network({ failureDetector: {} });
    const [a] = nodes;
    await advanceUntil(scheduler, sees(a, n3, "ACTIVE"), "n3 ACTIVE", 5000, 5);
    await advance(scheduler, 20_000, 5); // a history of regular heartbeats
    net.partition([n3]); // n3's heartbeats stop, as in a stop-the-world pause
    await advance(scheduler, 2000, 5);
    net.heal();
    await advance(scheduler, 2000, 5);
    expect(a.membership.state(n3)).toBe("ACTIVE");
    net.partition([n3]);
    await advance(scheduler, 6000, 5);
    expect(a.membership.state(n3)).toBe("INACTIVE");
  });

  it("is deterministic: the same seed with delays, jitter and loss replays the same run", async () => {
    const run = async (seed: number) => {
      const { scheduler, net, nodes, trace } = await network({
        seed,
        link: { delayMs: 2, jitterMs: 40, dropRate: 0.2 },
      });
      const [a, b] = nodes;
      b.messaging.serve("echo", (payload) => payload);
      const outcomes: string[] = [];
      for (let i = 0; i < 30; i++) {
        void codeOf(a.messaging.sendAndReceive(n2, "echo", utf8(`${i}`), { timeoutMs: 150 })).then(
          (code) => outcomes.push(`${scheduler.now()} #${i} ${code}`),
        );
        await advance(scheduler, 20);
      }
      net.setLink(n3, n1, { dropRate: 1 }); // n1 stops hearing n3 only
      await advance(scheduler, 3000, 5);
      expect(a.membership.state(n3)).toBe("INACTIVE");
      expect(nodes[2].membership.state(n1)).toBe("ACTIVE");
      await net.close();
      return [...trace, ...outcomes];
    };
    const first = await run(42);
    expect(first.some((line) => line.includes("TIMEOUT"))).toBe(true); // loss happened
    expect(first.some((line) => line.includes("resolved"))).toBe(true);
    expect(await run(42)).toEqual(first);
    expect(await run(7)).not.toEqual(first);
  });

  it("closing every node leaves no scheduled action and completes the streams", async () => {
    const { scheduler, net, nodes } = await network();
    await advance(scheduler, 500);
    const completed: string[] = [];
    for (const node of nodes) {
      node.membership.events$.subscribe({ complete: () => completed.push(`${node.id} events$`) });
      node.messaging.subscribe("x").subscribe({ complete: () => completed.push(`${node.id} x`) });
    }
    nodes[1].messaging.subscribe("slow").subscribe(() => {});
    const pending = codeOf(
      nodes[0].messaging.sendAndReceive(n2, "slow", utf8("?"), { timeoutMs: 60_000 }),
    );
    expect(scheduler.actions.length).toBeGreaterThan(0);
    await net.close();
    expect(await pending).toBe("CLOSED");
    expect(scheduler.actions).toHaveLength(0);
    expect(completed).toHaveLength(6);
  });
});

/** Resolves `promise` while advancing virtual time (at most 60 s). */
async function withTime<T>(scheduler: VirtualTimeScheduler, promise: Promise<T>): Promise<T> {
  let done = false;
  const tracked = promise.finally(() => {
    done = true;
  });
  tracked.catch(() => {});
  await advanceUntil(scheduler, () => done, "the call to settle");
  return tracked;
}
