import { Buffer } from "node:buffer";
import * as net from "node:net";
import { performance } from "node:perf_hooks";
import {
  createTcpCluster,
  type NodeId,
  nodeId,
  noopLogger,
  type TcpCluster,
} from "@flowstore/cluster-messaging";
import { type BenchContext, defineScenario } from "../harness.js";

const PAYLOAD = new Uint8Array(16).fill(7);
const IN_FLIGHT = 64;
const SEND_CHUNK = 4096;
const n1 = nodeId("n1");
const n2 = nodeId("n2");

const yieldToIo = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A pair of flowstore nodes on loopback: n1 sends, n2 counts and echoes. */
interface Pair {
  readonly sender: TcpCluster;
  readonly receiver: TcpCluster;
  /** Resolves when the receiver has counted `count` more one-way messages. */
  expect(count: number): Promise<void>;
  close(): Promise<void>;
}

/** The raw baseline: length-prefixed frames over `node:net`, batched the same way. */
interface RawPair {
  sendOneWay(count: number): Promise<void>;
  request(): Promise<void>;
  close(): Promise<void>;
}

/** A port that was free on 127.0.0.1 a moment ago. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen({ host: "127.0.0.1", port: 0 }, resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function startPair(): Promise<Pair> {
  const ports = await Promise.all([freePort(), freePort()]);
  const real = {
    name: "bench",
    nodes: [
      { id: n1, host: "127.0.0.1", port: ports[0]! },
      { id: n2, host: "127.0.0.1", port: ports[1]! },
    ],
  };
  const start = (local: NodeId) =>
    createTcpCluster({
      config: real,
      local,
      namespace: { fingerprint: "bench" },
      logger: noopLogger,
      reconnect: { initialDelayMs: 10, maxDelayMs: 100 },
    });
  const sender = await start(n1);
  const receiver = await start(n2);
  for (let i = 0; i < 500 && sender.connectedPeers().length === 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  if (sender.connectedPeers().length === 0) throw new Error("the two nodes did not connect");
  let received = 0;
  let target = 0;
  let done: (() => void) | undefined;
  receiver.messaging.subscribe("bench.oneway").subscribe(() => {
    received++;
    if (received === target) done?.();
  });
  receiver.messaging.serve("bench.echo", (payload) => payload);
  return {
    sender,
    receiver,
    expect: (count) =>
      new Promise<void>((resolve) => {
        target = received + count;
        done = resolve;
      }),
    close: async () => {
      await sender.close();
      await receiver.close();
    },
  };
}

async function startRawPair(): Promise<RawPair> {
  let received = 0;
  let target = 0;
  let done: (() => void) | undefined;
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    let pending: Buffer | undefined;
    socket.on("data", (chunk: Buffer) => {
      const data = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
      let offset = 0;
      let replies: Buffer | undefined;
      let replyOffset = 0;
      while (data.length - offset >= 4) {
        const length = data.readUInt32BE(offset);
        if (data.length - offset - 4 < length) break;
        const kind = data[offset + 4];
        if (kind === 1) {
          received++;
          if (received === target) done?.();
        } else {
          // Echo the request (id and payload) back as a reply.
          replies ??= Buffer.allocUnsafe(64 * 1024);
          data.copy(replies, replyOffset, offset, offset + 4 + length);
          replies[replyOffset + 4] = 3;
          replyOffset += 4 + length;
        }
        offset += 4 + length;
      }
      pending = offset < data.length ? Buffer.from(data.subarray(offset)) : undefined;
      if (replies !== undefined) socket.write(replies.subarray(0, replyOffset));
    });
  });
  await new Promise<void>((resolve) => server.listen({ host: "127.0.0.1", port: 0 }, resolve));
  const port = (server.address() as net.AddressInfo).port;
  const client = net.connect({ host: "127.0.0.1", port });
  client.setNoDelay(true);
  await new Promise<void>((resolve) => client.once("connect", () => resolve()));

  const waiting = new Map<number, () => void>();
  let nextId = 0;
  let clientPending: Buffer | undefined;
  client.on("data", (chunk: Buffer) => {
    const data = clientPending === undefined ? chunk : Buffer.concat([clientPending, chunk]);
    let offset = 0;
    while (data.length - offset >= 4) {
      const length = data.readUInt32BE(offset);
      if (data.length - offset - 4 < length) break;
      const id = data.readUInt32BE(offset + 5);
      const resolve = waiting.get(id);
      waiting.delete(id);
      resolve?.();
      offset += 4 + length;
    }
    clientPending = offset < data.length ? Buffer.from(data.subarray(offset)) : undefined;
  });
  // Requests written in the same tick share one buffer, as flowstore's writer does.
  let batch: Buffer[] = [];
  const flush = () => {
    const out = batch.length === 1 ? batch[0]! : Buffer.concat(batch);
    batch = [];
    client.write(out);
  };
  const frame = (kind: number, id: number) => {
    const out = Buffer.allocUnsafe(4 + 1 + 4 + PAYLOAD.length);
    out.writeUInt32BE(1 + 4 + PAYLOAD.length, 0);
    out[4] = kind;
    out.writeUInt32BE(id, 5);
    out.set(PAYLOAD, 9);
    return out;
  };
  return {
    async sendOneWay(count) {
      const arrived = new Promise<void>((resolve) => {
        target = received + count;
        done = resolve;
      });
      const size = 4 + 1 + PAYLOAD.length;
      for (let sent = 0; sent < count; ) {
        const n = Math.min(SEND_CHUNK, count - sent);
        const out = Buffer.allocUnsafe(n * size);
        for (let i = 0; i < n; i++) {
          const at = i * size;
          out.writeUInt32BE(1 + PAYLOAD.length, at);
          out[at + 4] = 1;
          out.set(PAYLOAD, at + 5);
        }
        client.write(out);
        sent += n;
        await yieldToIo();
      }
      await arrived;
    },
    request() {
      nextId = (nextId + 1) >>> 0;
      const id = nextId;
      return new Promise<void>((resolve) => {
        waiting.set(id, resolve);
        if (batch.length === 0) queueMicrotask(flush);
        batch.push(frame(2, id));
      });
    },
    async close() {
      client.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function oneWay(pair: Pair, count: number): Promise<number> {
  const arrived = pair.expect(count);
  const start = performance.now();
  for (let sent = 0; sent < count; ) {
    const n = Math.min(SEND_CHUNK, count - sent);
    for (let i = 0; i < n; i++) pair.sender.messaging.unicast(n2, "bench.oneway", PAYLOAD);
    sent += n;
    await yieldToIo();
  }
  await arrived;
  return count / ((performance.now() - start) / 1000);
}

async function rawOneWay(raw: RawPair, count: number): Promise<number> {
  const start = performance.now();
  await raw.sendOneWay(count);
  return count / ((performance.now() - start) / 1000);
}

/** `count` requests with `inFlight` outstanding at any time; returns requests per second. */
async function closedLoop(request: () => Promise<unknown>, count: number, inFlight: number) {
  let issued = 0;
  const worker = async () => {
    while (issued < count) {
      issued++;
      await request();
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: inFlight }, worker));
  return count / ((performance.now() - start) / 1000);
}

/** Latencies (ms) of `count` sequential requests, after the warm-up the caller did. */
async function latencies(request: () => Promise<unknown>, count: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    await request();
    out.push(performance.now() - start);
  }
  return out.sort((a, b) => a - b);
}

const percentile = (sorted: readonly number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;

export const messagingScenario = defineScenario({
  name: "messaging",
  description:
    "two nodes over loopback TCP: one-way msgs/s, request/reply/s, latency; vs raw node:net",
  async run(ctx: BenchContext) {
    const oneWayCount = ctx.quick ? 500_000 : 2_000_000;
    const requestCount = ctx.quick ? 100_000 : 400_000;
    const latencyCount = ctx.quick ? 3000 : 20_000;
    const runs = ctx.quick ? 3 : 5;
    ctx.progress("starting two nodes and the raw baseline on loopback");
    const pair = await startPair();
    const raw = await startRawPair();
    try {
      const request = () => pair.sender.messaging.sendAndReceive(n2, "bench.echo", PAYLOAD);
      const ours1 = await ctx.sample(
        "one-way 16 B, flowstore",
        "msgs/s",
        () => oneWay(pair, oneWayCount),
        {
          runs,
          warmup: 1,
          better: "higher",
        },
      );
      const raw1 = await ctx.sample(
        "one-way 16 B, raw node:net",
        "msgs/s",
        () => rawOneWay(raw, oneWayCount),
        {
          runs,
          warmup: 1,
          better: "higher",
        },
      );
      ctx.ratio("one-way flowstore / raw", ours1, raw1);

      const ours2 = await ctx.sample(
        `request/reply, ${IN_FLIGHT} in flight, flowstore`,
        "req/s",
        () => closedLoop(request, requestCount, IN_FLIGHT),
        { runs, warmup: 1, better: "higher" },
      );
      const raw2 = await ctx.sample(
        `request/reply, ${IN_FLIGHT} in flight, raw node:net`,
        "req/s",
        () => closedLoop(() => raw.request(), requestCount, IN_FLIGHT),
        { runs, warmup: 1, better: "higher" },
      );
      ctx.ratio("request/reply flowstore / raw", ours2, raw2);

      const p50 = (sorted: number[]) => percentile(sorted, 50) * 1000;
      const p99 = (sorted: number[]) => percentile(sorted, 99) * 1000;
      await latencies(request, 500);
      await latencies(() => raw.request(), 500);
      const oursLatency = await latencies(request, latencyCount);
      const rawLatency = await latencies(() => raw.request(), latencyCount);
      ctx.record("request latency p50, flowstore (1 in flight)", "µs", p50(oursLatency), {
        better: "lower",
      });
      ctx.record("request latency p99, flowstore (1 in flight)", "µs", p99(oursLatency), {
        better: "lower",
      });
      ctx.record("request latency p50, raw node:net (1 in flight)", "µs", p50(rawLatency), {
        better: "lower",
      });
      ctx.record("request latency p99, raw node:net (1 in flight)", "µs", p99(rawLatency), {
        better: "lower",
      });
      ctx.record("latency p50 flowstore / raw", "×", p50(oursLatency) / p50(rawLatency));
    } finally {
      await pair.close();
      await raw.close();
    }
  },
});
