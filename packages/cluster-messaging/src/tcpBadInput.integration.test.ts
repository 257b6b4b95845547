import { Buffer } from "node:buffer";
import * as net from "node:net";
import { createNamespace } from "@flowstore/serializers";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { FrameKind, FrameReader, type FrameSink, FrameWriter } from "./frame.js";
import { clusterNameHash, encodeHello, newNonce, PROTOCOL_VERSION } from "./handshake.js";
import { createRecordingLogger, type LogLine } from "./logger.js";
import type { NodeId } from "./node.js";
import { createTcpCluster, type TcpCluster } from "./tcpCluster.js";
import { freePorts, ids, loopbackConfig, text, utf8, waitFor } from "./testing/support.js";

const namespace = createNamespace("bad").register(1, "X", z.number()).build();
const [n1, n2, n3] = ids(3) as [NodeId, NodeId, NodeId];
const fast = { heartbeatIntervalMs: 100, acceptablePauseMs: 500, minStdDeviationMs: 100 };

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

/** A raw TCP client that speaks (or breaks) the wire protocol by hand. */
class RawPeer {
  readonly socket: net.Socket;
  readonly frames: { kind: string; text: string }[] = [];
  closed = false;
  readonly writer: FrameWriter;
  readonly #reader: FrameReader;

  constructor(port: number) {
    this.socket = net.connect({ host: "127.0.0.1", port });
    this.writer = new FrameWriter((bytes) => this.socket.write(bytes));
    const frames = this.frames;
    const sink: FrameSink = {
      onHello: (body) => frames.push({ kind: "HELLO", text: body.toString("latin1") }),
      onRefuse: (reason) => frames.push({ kind: "REFUSE", text: reason }),
      onAuth: () => frames.push({ kind: "AUTH", text: "" }),
      onOneWay: (subject, payload) =>
        frames.push({ kind: "ONE_WAY", text: `${subject}:${payload}` }),
      onRequest: (id, subject) => frames.push({ kind: "REQUEST", text: `${id}:${subject}` }),
      onReply: (id, status) => frames.push({ kind: "REPLY", text: `${id}:${status}` }),
      onHeartbeat: () => frames.push({ kind: "HEARTBEAT", text: "" }),
    };
    this.#reader = new FrameReader(sink);
    this.socket.on("data", (chunk: Buffer) => this.#reader.push(chunk));
    this.socket.on("error", () => {});
    this.socket.on("close", () => {
      this.closed = true;
    });
    cleanup.push(() => {
      this.socket.destroy();
    });
  }

  ready(): Promise<void> {
    return new Promise((resolve) => this.socket.once("connect", () => resolve()));
  }

  hello(cluster: string, node: NodeId, version = PROTOCOL_VERSION): void {
    const identity = {
      node,
      clusterHash: clusterNameHash(cluster),
      fingerprint: namespace.fingerprint,
      secret: undefined,
      version,
    };
    this.writer.control(FrameKind.HELLO, encodeHello(identity, newNonce(), new Uint8Array(0)));
  }
}

async function cluster(maxFrameBytes: number) {
  const ports = await freePorts(3);
  const config = loopbackConfig("bad", ports);
  const recorded = createRecordingLogger();
  const common = {
    config,
    namespace,
    failureDetector: fast,
    reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
    maxFrameBytes,
  };
  const a = await createTcpCluster({ ...common, local: n1, logger: recorded.logger });
  const b = await createTcpCluster({
    ...common,
    local: n2,
    logger: createRecordingLogger().logger,
  });
  cleanup.push(
    () => a.close(),
    () => b.close(),
  );
  b.messaging.serve("echo", (payload) => payload);
  await waitFor("n2 ACTIVE at n1", () => a.membership.state(n2) === "ACTIVE");
  return { a, b, lines: recorded.lines, port: a.address().port };
}

async function stillServes(a: TcpCluster): Promise<void> {
  expect(text(await a.messaging.sendAndReceive(n2, "echo", utf8("still here")))).toBe("still here");
  expect(a.membership.state(n2)).toBe("ACTIVE");
}

const logged = (lines: LogLine[], message: string, reason: RegExp) =>
  lines.some((line) => line.message === message && reason.test(String(line.fields.reason)));

describe("bad input over TCP", () => {
  it("drops a connection that sends garbage, and keeps serving its other peers", async () => {
    const { a, lines, port } = await cluster(1024);
    const raw = new RawPeer(port);
    await raw.ready();
    raw.socket.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    await waitFor("garbage connection closed", () => raw.closed);
    expect(logged(lines, "malformed input; connection dropped", /frame of \d+ bytes/)).toBe(true);
    await stillServes(a);
  });

  it("drops a connection that sends a message before the handshake or an unknown frame kind", async () => {
    const { a, lines, port } = await cluster(1024);
    const early = new RawPeer(port);
    await early.ready();
    early.writer.oneWay("echo", utf8("sneaky"));
    await waitFor("early message connection closed", () => early.closed);
    expect(logged(lines, "malformed input; connection dropped", /before the handshake/)).toBe(true);

    const unknown = new RawPeer(port);
    await unknown.ready();
    unknown.socket.write(Buffer.from([0, 0, 0, 2, 99, 0]));
    await waitFor("unknown kind connection closed", () => unknown.closed);
    expect(logged(lines, "malformed input; connection dropped", /unknown frame kind 99/)).toBe(
      true,
    );
    await stillServes(a);
  });

  it("refuses a hello of another protocol version or from an impostor, and says why", async () => {
    const { a, lines, port } = await cluster(1024);
    const old = new RawPeer(port);
    await old.ready();
    old.hello("bad", n3, PROTOCOL_VERSION + 1);
    await waitFor("old-version connection closed", () => old.closed);
    expect(old.frames).toEqual([
      { kind: "REFUSE", text: expect.stringMatching(/protocol version 2/) },
    ]);
    expect(logged(lines, "handshake refused", /protocol version/)).toBe(true);

    const impostor = new RawPeer(port);
    await impostor.ready();
    impostor.hello("bad", n1); // claims to be the node it talks to
    await waitFor("impostor connection closed", () => impostor.closed);
    expect(logged(lines, "handshake refused", /local node id/)).toBe(true);

    const junk = new RawPeer(port);
    await junk.ready();
    junk.writer.control(FrameKind.HELLO, utf8("not msgpack at all \u00c1"));
    await waitFor("junk hello connection closed", () => junk.closed);
    expect(logged(lines, "handshake refused", /malformed hello/)).toBe(true);
    await stillServes(a);
  });

  it("after a good handshake, drops frames over the limit and undefined subjects", async () => {
    const { a, lines, port } = await cluster(1024);
    const seen: string[] = [];
    a.messaging.subscribe("note").subscribe((message) => seen.push(text(message.payload)));

    const big = new RawPeer(port);
    await big.ready();
    big.hello("bad", n3);
    await waitFor("hello answered", () => big.frames.length === 1);
    expect(big.frames[0]?.kind).toBe("HELLO");
    big.writer.control(FrameKind.AUTH, new Uint8Array(0));
    big.writer.oneWay("note", utf8("fits"));
    big.writer.oneWay("note", new Uint8Array(2000));
    await waitFor("oversized frame connection closed", () => big.closed);
    expect(seen).toEqual(["fits"]);
    expect(
      logged(lines, "malformed input; connection dropped", /frame of \d+ bytes \(limit 1024\)/),
    ).toBe(true);

    const undefinedSubject = new RawPeer(port);
    await undefinedSubject.ready();
    undefinedSubject.hello("bad", n3);
    await waitFor("hello answered", () => undefinedSubject.frames.length === 1);
    undefinedSubject.writer.control(FrameKind.AUTH, new Uint8Array(0));
    undefinedSubject.writer.flush();
    undefinedSubject.socket.write(Buffer.from([0, 0, 0, 3, FrameKind.ONE_WAY, 7, 1]));
    await waitFor("undefined subject connection closed", () => undefinedSubject.closed);
    expect(logged(lines, "malformed input; connection dropped", /undefined subject id 7/)).toBe(
      true,
    );
    await stillServes(a);
  });
});

describe("closing a node", () => {
  const count = (kinds: readonly string[]) =>
    process.getActiveResourcesInfo().filter((kind) => kinds.includes(kind)).length;
  const sockets = ["TCPSocketWrap", "TCPServerWrap"];

  it("releases every socket and timer it held", async () => {
    const baseline = { sockets: count(sockets), timers: count(["Timeout"]) };
    const ports = await freePorts(3);
    const config = loopbackConfig("close", ports);
    const common = {
      config,
      namespace,
      failureDetector: fast,
      logger: createRecordingLogger().logger,
      reconnect: { initialDelayMs: 20, maxDelayMs: 100 },
    };
    // n3 is configured but never started: n1 and n2 keep redialling it.
    const a = await createTcpCluster({ ...common, local: n1 });
    const b = await createTcpCluster({ ...common, local: n2 });
    await waitFor("n2 ACTIVE", () => a.membership.state(n2) === "ACTIVE");
    b.messaging.subscribe("slow").subscribe(() => {});
    const pending = a.messaging
      .sendAndReceive(n2, "slow", utf8("?"), { timeoutMs: 60_000 })
      .catch((error: unknown) => error);
    const completed: string[] = [];
    a.messaging.subscribe("x").subscribe({ complete: () => completed.push("subscribe") });
    a.membership.events$.subscribe({ complete: () => completed.push("events$") });
    expect(count(sockets)).toBeGreaterThan(baseline.sockets);
    expect(count(["Timeout"])).toBeGreaterThan(baseline.timers);

    await a.close();
    expect(await pending).toMatchObject({ code: "CLOSED" });
    expect(completed.sort()).toEqual(["events$", "subscribe"]);
    expect(a.messaging.unicast(n2, "x", utf8("late"))).toBe(false);
    await b.close();
    await waitFor(
      "sockets and timers released",
      () => count(sockets) <= baseline.sockets && count(["Timeout"]) <= baseline.timers,
      5000,
    );
  });
});
