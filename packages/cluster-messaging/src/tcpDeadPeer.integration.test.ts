// A dead peer (its address refuses connections) is convicted at once; a silent one (its
// connections stay open, nothing arrives) only by φ. Each node reaches the other through a
// loopback proxy the test controls: "kill" closes the proxy (as a killed process's sockets
// and port close), "freeze" stops forwarding bytes (as SIGSTOP does).
import * as net from "node:net";
import { createNamespace } from "@flowstore/serializers";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import type { ClusterConfig } from "./clusterConfig.js";
import { createRecordingLogger, type LogLine } from "./logger.js";
import type { NodeId } from "./node.js";
import { createTcpCluster } from "./tcpCluster.js";
import { freePorts, ids, waitFor } from "./testing/support.js";

const namespace = createNamespace("test")
  .register(1, "Ping", z.object({ n: z.number() }))
  .build();
const [n1, n2] = ids(2) as [NodeId, NodeId];

/** A TCP proxy from `port` to `target`, which can freeze (forward nothing) or die. */
class TcpProxy {
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  readonly #pairs: [net.Socket, net.Socket][] = [];
  #frozen = false;

  private constructor(server: net.Server) {
    this.#server = server;
  }

  static async start(port: number, target: number): Promise<TcpProxy> {
    let proxy: TcpProxy | undefined;
    const server = net.createServer((client) => proxy?.accept(client, target));
    proxy = new TcpProxy(server);
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    return proxy;
  }

  accept(client: net.Socket, target: number): void {
    const upstream = net.connect({ host: "127.0.0.1", port: target });
    for (const socket of [client, upstream]) {
      this.#sockets.add(socket);
      socket.on("error", () => undefined);
      socket.once("close", () => {
        this.#sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    this.#pairs.push([client, upstream]);
    if (!this.#frozen) this.#pipe(client, upstream);
  }

  #pipe(a: net.Socket, b: net.Socket): void {
    a.pipe(b);
    b.pipe(a);
  }

  /** Stops forwarding: connections stay open and new ones are accepted, nothing passes. */
  freeze(): void {
    this.#frozen = true;
    for (const [a, b] of this.#pairs) {
      a.unpipe(b);
      b.unpipe(a);
      a.pause();
      b.pause();
    }
  }

  /** Closes every connection and the listening port: dials to it are refused. */
  async kill(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    await closed;
  }
}

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

/**
 * n1 and n2, each listening on its own port and configured to reach the other through a
 * proxy. `acceptablePauseMs` sets how long φ tolerates silence.
 */
async function twoNodesBehindProxies(acceptablePauseMs: number) {
  const [real1, real2, proxy1Port, proxy2Port] = (await freePorts(4)) as [
    number,
    number,
    number,
    number,
  ];
  const proxyTo1 = await TcpProxy.start(proxy1Port, real1);
  const proxyTo2 = await TcpProxy.start(proxy2Port, real2);
  cleanup.push(
    () => proxyTo1.kill(),
    () => proxyTo2.kill(),
  );
  const config = (port1: number, port2: number): ClusterConfig => ({
    name: "dead-peer",
    nodes: [
      { id: n1, host: "127.0.0.1", port: port1 },
      { id: n2, host: "127.0.0.1", port: port2 },
    ],
  });
  const failureDetector = { heartbeatIntervalMs: 100, acceptablePauseMs, minStdDeviationMs: 100 };
  const reconnect = { initialDelayMs: 50, maxDelayMs: 200 };
  const recorded = createRecordingLogger();
  const a = await createTcpCluster({
    config: config(real1, proxy2Port),
    local: n1,
    namespace,
    logger: recorded.logger,
    failureDetector,
    reconnect,
  });
  const b = await createTcpCluster({
    config: config(proxy1Port, real2),
    local: n2,
    namespace,
    failureDetector,
    reconnect,
  });
  cleanup.push(
    () => a.close(),
    () => b.close(),
  );
  await waitFor(
    "both ACTIVE",
    () => a.membership.state(n2) === "ACTIVE" && b.membership.state(n1) === "ACTIVE",
  );
  return { a, b, proxyTo1, proxyTo2, lines: recorded.lines };
}

const convictions = (lines: readonly LogLine[]) =>
  lines.filter((line) => line.message === "node inactive");

describe("a peer's death over TCP", () => {
  it("convicts a peer whose connections closed and whose address refuses, long before φ would", async () => {
    // φ would wait a minute of silence: only the refusal can convict within the wait below.
    const { a, proxyTo1, proxyTo2, lines } = await twoNodesBehindProxies(60_000);
    const events: string[] = [];
    a.membership.events$.subscribe((event) => events.push(`${event.type} ${event.node}`));
    // n2's process is gone: its connections close and its port refuses.
    await Promise.all([proxyTo2.kill(), proxyTo1.kill()]);
    await waitFor("n2 convicted", () => a.membership.state(n2) === "INACTIVE", 10_000);
    expect(events).toEqual([`NODE_INACTIVE ${n2}`]);
    expect(convictions(lines).map((line) => line.fields)).toEqual([
      { node: n2, reason: "connection refused" },
    ]);
  });

  it("leaves a silent peer whose address still accepts to φ", async () => {
    const { a, proxyTo1, proxyTo2, lines } = await twoNodesBehindProxies(500);
    // n2 stops (SIGSTOP): its sockets stay open and its port accepts, but nothing comes back.
    proxyTo2.freeze();
    proxyTo1.freeze();
    await waitFor("n2 convicted by φ", () => a.membership.state(n2) === "INACTIVE", 20_000);
    const [conviction, ...more] = convictions(lines);
    expect(more).toEqual([]);
    expect(conviction?.fields.node).toBe(n2);
    expect(conviction?.fields.reason).toBeUndefined();
    expect(conviction?.fields.phi).toBeGreaterThanOrEqual(8);
  });

  it("does not convict a live peer whose connection merely dropped", async () => {
    const { a, b, lines } = await twoNodesBehindProxies(60_000);
    // Drop every connection once (as a peer that stopped reading would be dropped): both
    // addresses still accept, so the nodes reconnect and nobody is convicted.
    const before = a.connectedPeers();
    expect(before).toEqual([n2]);
    await b.close();
    const c = await createTcpCluster({
      config: b.config,
      local: n2,
      namespace,
      failureDetector: { heartbeatIntervalMs: 100, acceptablePauseMs: 60_000 },
      reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
    });
    cleanup.push(() => c.close());
    await waitFor(
      "reconnected",
      () => a.membership.state(n2) === "ACTIVE" && c.membership.state(n1) === "ACTIVE",
    );
    // The restart happened behind the proxy, whose port never refused: no conviction.
    expect(convictions(lines)).toEqual([]);
  });
});
