import { createNamespace, createSerializer } from "@flowstore/serializers";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { createChannel } from "./channel.js";
import type { ClusterConfig } from "./clusterConfig.js";
import { createRecordingLogger, type LogLine } from "./logger.js";
import type { MembershipEvent } from "./membership.js";
import { MessagingError } from "./messagingError.js";
import type { NodeId } from "./node.js";
import { createTcpCluster, type TcpCluster, type TcpClusterOptions } from "./tcpCluster.js";
import { freePorts, ids, loopbackConfig, text, utf8, waitFor } from "./testing/support.js";

const namespace = createNamespace("test")
  .register(1, "Ping", z.object({ n: z.number() }))
  .build();
const fast = { heartbeatIntervalMs: 100, acceptablePauseMs: 500, minStdDeviationMs: 100 };
const [n1, n2, n3] = ids(3) as [NodeId, NodeId, NodeId];

let running: TcpCluster[] = [];
afterEach(async () => {
  await Promise.all(running.map((node) => node.close()));
  running = [];
});

interface Started {
  node: TcpCluster;
  lines: LogLine[];
  events: MembershipEvent[];
}

async function start(
  config: ClusterConfig,
  local: NodeId,
  extra: Partial<TcpClusterOptions> = {},
): Promise<Started> {
  const { logger, lines } = createRecordingLogger();
  const node = await createTcpCluster({
    config,
    local,
    namespace,
    logger,
    failureDetector: fast,
    reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
    ...extra,
  });
  running.push(node);
  const events: MembershipEvent[] = [];
  node.membership.events$.subscribe((event) => events.push(event));
  return { node, lines, events };
}

const allActive = (nodes: readonly TcpCluster[]) => () =>
  nodes.every((node) =>
    node.membership.nodes().every((other) => node.membership.state(other.id) === "ACTIVE"),
  );

describe("two nodes over loopback TCP", () => {
  it("connect, see each other ACTIVE, and exchange one-way messages and requests", async () => {
    const config = loopbackConfig("two", await freePorts(2));
    const a = await start(config, n1);
    const b = await start(config, n2);
    await waitFor("both nodes ACTIVE", allActive([a.node, b.node]));
    expect(a.events).toEqual([{ type: "NODE_ACTIVE", node: n2 }]);
    expect(b.node.connectedPeers()).toEqual([n1]);

    const received: string[] = [];
    b.node.messaging.subscribe("notes").subscribe((message) => {
      received.push(`${message.from}:${text(message.payload)}:${message.expectsReply}`);
    });
    expect(a.node.messaging.unicast(n2, "notes", utf8("one"))).toBe(true);
    expect(a.node.messaging.broadcast("notes", utf8("two"))).toBe(1);
    expect(a.node.messaging.multicast([n2], "notes", utf8("three"))).toBe(1);
    await waitFor("three notes", () => received.length === 3);
    expect(received).toEqual(["n1:one:false", "n1:two:false", "n1:three:false"]);

    b.node.messaging.serve("upper", async (payload, from) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      return utf8(`${text(payload).toUpperCase()} for ${from}`);
    });
    const reply = await a.node.messaging.sendAndReceive(n2, "upper", utf8("hi"));
    expect(text(reply)).toBe("HI for n1");
    // Many in flight at once, each answered to its own caller.
    const replies = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        a.node.messaging.sendAndReceive(n2, "upper", utf8(`m${i}`)),
      ),
    );
    expect(replies.map(text)).toEqual(Array.from({ length: 200 }, (_, i) => `M${i} for n1`));
  });

  it("tells a timeout from each kind of refusal", async () => {
    const config = loopbackConfig("refusals", await freePorts(2));
    const a = await start(config, n1);
    const b = await start(config, n2);
    await waitFor("both nodes ACTIVE", allActive([a.node, b.node]));
    b.node.messaging.serve("fails", () => {
      throw new Error("disk on fire");
    });
    b.node.messaging.subscribe("silent").subscribe(() => {}); // receives, never replies
    const codeOf = (promise: Promise<unknown>) =>
      promise.then(
        () => "resolved",
        (error: unknown) => (error instanceof MessagingError ? error.code : String(error)),
      );
    expect(await codeOf(a.node.messaging.sendAndReceive(n2, "nobody", utf8("?")))).toBe(
      "NO_HANDLER",
    );
    const failed = a.node.messaging.sendAndReceive(n2, "fails", utf8("?"));
    await expect(failed).rejects.toThrow(/disk on fire/);
    expect(await codeOf(failed)).toBe("HANDLER_ERROR");
    expect(
      await codeOf(a.node.messaging.sendAndReceive(n2, "silent", utf8("?"), { timeoutMs: 150 })),
    ).toBe("TIMEOUT");
    expect(await codeOf(a.node.messaging.sendAndReceive("n9" as NodeId, "x", utf8("?")))).toBe(
      "UNREACHABLE",
    );
    expect(b.lines.some((line) => line.message.includes("nothing handles"))).toBe(true);
  });

  it("delivers to the local node in-process", async () => {
    const config = loopbackConfig("local", await freePorts(2));
    const a = await start(config, n1);
    a.node.messaging.serve("echo", (payload) => payload);
    const reply = await a.node.messaging.sendAndReceive(n1, "echo", utf8("self"));
    expect(text(reply)).toBe("self");
    const seen: NodeId[] = [];
    a.node.messaging.subscribe("note").subscribe((message) => seen.push(message.from));
    expect(a.node.messaging.multicast([n1], "note", utf8("x"))).toBe(1);
    await waitFor("local note", () => seen.length === 1);
    expect(seen).toEqual([n1]);
  });

  it("validates payloads with a channel's serializers: invalid ones are refused and logged", async () => {
    const config = loopbackConfig("typed", await freePorts(2));
    const a = await start(config, n1);
    const b = await start(config, n2);
    await waitFor("both nodes ACTIVE", allActive([a.node, b.node]));
    const Add = createSerializer("Add", z.object({ x: z.number(), y: z.number() }));
    const Sum = createSerializer("Sum", z.number());
    createChannel(b.node.messaging, { subject: "add", request: Add, reply: Sum }).serve(
      ({ x, y }) => x + y,
    );
    const caller = createChannel(a.node.messaging, { subject: "add", request: Add, reply: Sum });
    expect(await caller.sendAndReceive(n2, { x: 2, y: 3 })).toBe(5);

    // A sender with another idea of the payload.
    const Wrong = createSerializer("Add", z.object({ x: z.string() }));
    const wrong = createChannel(a.node.messaging, { subject: "add", request: Wrong, reply: Sum });
    const refused = wrong.sendAndReceive(n2, { x: "two" });
    await expect(refused).rejects.toMatchObject({ code: "PROTOCOL_ERROR" });
    await expect(refused).rejects.toThrow(/x: /);
    expect(
      b.lines.some(
        (line) => line.message === "message refused" && line.fields.status === "PROTOCOL_ERROR",
      ),
    ).toBe(true);
    // b still serves valid requests.
    expect(await caller.sendAndReceive(n2, { x: 40, y: 2 })).toBe(42);
  });
});

describe("three nodes over loopback TCP", () => {
  it("detect a failed node, reconnect when it restarts, and recover", async () => {
    const config = loopbackConfig("three", await freePorts(3));
    const a = await start(config, n1);
    const b = await start(config, n2);
    let c = await start(config, n3);
    await waitFor("all three ACTIVE", allActive([a.node, b.node, c.node]));
    for (const started of [a, b]) started.node.messaging.serve("who", () => utf8(started.node.id));
    c.node.messaging.serve("who", () => utf8("n3"));
    const inbox: string[] = [];
    b.node.messaging.subscribe("all").subscribe((message) => inbox.push(`b<-${message.from}`));
    c.node.messaging.subscribe("all").subscribe((message) => inbox.push(`c<-${message.from}`));
    expect(a.node.messaging.broadcast("all", utf8("hi"))).toBe(2);
    await waitFor("broadcast delivered", () => inbox.length === 2);
    expect(inbox.sort()).toEqual(["b<-n1", "c<-n1"]);

    // n3 stops: its peers see it fail, and requests to it fail fast.
    await c.node.close();
    await waitFor(
      "n3 INACTIVE at n1 and n2",
      () =>
        a.node.membership.state(n3) === "INACTIVE" && b.node.membership.state(n3) === "INACTIVE",
    );
    expect(a.events.at(-1)).toEqual({ type: "NODE_INACTIVE", node: n3 });
    await expect(a.node.messaging.sendAndReceive(n3, "who", utf8("?"))).rejects.toMatchObject({
      code: "UNREACHABLE",
    });
    expect(a.node.membership.state(n2)).toBe("ACTIVE");

    // n3 comes back on the same port: the custodians reconnect and it turns ACTIVE again.
    c = await start(config, n3);
    c.node.messaging.serve("who", () => utf8("n3 again"));
    await waitFor("all three ACTIVE again", allActive([a.node, b.node, c.node]));
    expect(a.events.at(-1)).toEqual({ type: "NODE_ACTIVE", node: n3 });
    expect(text(await a.node.messaging.sendAndReceive(n3, "who", utf8("?")))).toBe("n3 again");
    expect(text(await c.node.messaging.sendAndReceive(n1, "who", utf8("?")))).toBe("n1");
  });
});

describe("handshake", () => {
  async function expectRefused(
    accepting: Partial<TcpClusterOptions>,
    connecting: Partial<TcpClusterOptions>,
    reason: RegExp,
    configs?: [ClusterConfig, ClusterConfig],
  ) {
    const ports = await freePorts(2);
    const [configA, configB] = configs ?? [
      loopbackConfig("hs", ports),
      loopbackConfig("hs", ports),
    ];
    const a = await start(configA, n1, accepting);
    const b = await start(configB, n2, connecting);
    const refusal = (lines: LogLine[]) =>
      lines.find(
        (line) => line.message === "handshake refused" && reason.test(String(line.fields.reason)),
      );
    await waitFor(
      `refusal ${reason}`,
      () => refusal(a.lines) !== undefined || refusal(b.lines) !== undefined,
    );
    expect(
      [...a.lines, ...b.lines].some((line) => line.message === "peer refused the handshake"),
    ).toBe(true);
    expect(a.node.connectedPeers()).toEqual([]);
    expect(b.node.connectedPeers()).toEqual([]);
    expect(a.node.membership.state(n2)).toBe("INACTIVE");
  }

  it("refuses a peer of another cluster", async () => {
    const ports = await freePorts(2);
    await expectRefused({}, {}, /another cluster/, [
      loopbackConfig("blue", ports),
      loopbackConfig("green", ports),
    ]);
  });

  it("refuses a peer with another serializer namespace", async () => {
    const other = createNamespace("test")
      .register(1, "Ping", z.object({ n: z.string() }))
      .build();
    await expectRefused({}, { namespace: other }, /fingerprint/);
  });

  it("refuses a peer without the cluster secret, or with another one", async () => {
    await expectRefused({ secret: "s3cret" }, {}, /secret/);
    await Promise.all(running.map((node) => node.close()));
    running = [];
    await expectRefused({ secret: "s3cret" }, { secret: "guess" }, /secret/);
  });

  it("accepts peers that share the secret", async () => {
    const config = loopbackConfig("secret", await freePorts(2));
    const a = await start(config, n1, { secret: "s3cret" });
    const b = await start(config, n2, { secret: "s3cret" });
    await waitFor("both ACTIVE with a secret", allActive([a.node, b.node]));
    b.node.messaging.serve("echo", (payload) => payload);
    expect(text(await a.node.messaging.sendAndReceive(n2, "echo", utf8("ok")))).toBe("ok");
  });

  it("refuses a node that is not in the configuration", async () => {
    const ports = await freePorts(3);
    const full = loopbackConfig("members", ports);
    const withoutN2: ClusterConfig = {
      name: "members",
      nodes: full.nodes.filter((n) => n.id !== n2),
    };
    await expectRefused({}, {}, /not in the cluster configuration/, [withoutN2, full]);
  });
});
