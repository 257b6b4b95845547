import { Buffer } from "node:buffer";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  FrameError,
  FrameKind,
  FrameReader,
  type FrameSink,
  FrameWriter,
  type ReplyStatus,
} from "./frame.js";

type Frame =
  | { kind: "oneWay"; subject: string; payload: number[] }
  | { kind: "request"; id: number; subject: string; payload: number[] }
  | { kind: "reply"; id: number; status: ReplyStatus; payload: number[] }
  | { kind: "heartbeat" }
  | { kind: "hello"; payload: number[] };

function recorder(): { frames: Frame[]; sink: FrameSink } {
  const frames: Frame[] = [];
  const bytes = (b: Uint8Array) => [...b];
  return {
    frames,
    sink: {
      onHello: (body) => frames.push({ kind: "hello", payload: bytes(body) }),
      onRefuse: () => {},
      onAuth: () => {},
      onOneWay: (subject, payload) =>
        frames.push({ kind: "oneWay", subject, payload: bytes(payload) }),
      onRequest: (id, subject, payload) =>
        frames.push({ kind: "request", id, subject, payload: bytes(payload) }),
      onReply: (id, status, payload) =>
        frames.push({ kind: "reply", id, status, payload: bytes(payload) }),
      onHeartbeat: () => frames.push({ kind: "heartbeat" }),
    },
  };
}

function encode(frames: readonly Frame[], chunkBytes?: number): Buffer {
  const out: Buffer[] = [];
  const writer = new FrameWriter((bytes) => out.push(Buffer.from(bytes)), chunkBytes);
  for (const frame of frames) {
    switch (frame.kind) {
      case "oneWay":
        writer.oneWay(frame.subject, Uint8Array.from(frame.payload));
        break;
      case "request":
        writer.request(frame.id, frame.subject, Uint8Array.from(frame.payload));
        break;
      case "reply":
        writer.reply(frame.id, frame.status, Uint8Array.from(frame.payload));
        break;
      case "heartbeat":
        writer.heartbeat();
        break;
      case "hello":
        writer.control(FrameKind.HELLO, Uint8Array.from(frame.payload));
        break;
      default:
        frame satisfies never;
    }
  }
  writer.flush();
  return Buffer.concat(out);
}

const subject = fc.constantFrom("a", "flowstore.backup", "ünïcødé.subject", "x".repeat(255));
const payload = fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 300 });
const id = fc.oneof(fc.integer({ min: 0, max: 200 }), fc.constant(0xffffffff), fc.nat());
const frameArb: fc.Arbitrary<Frame> = fc.oneof(
  fc.record({ kind: fc.constant("oneWay" as const), subject, payload }),
  fc.record({ kind: fc.constant("request" as const), id, subject, payload }),
  fc.record({
    kind: fc.constant("reply" as const),
    id,
    status: fc.constantFrom<ReplyStatus>("OK", "NO_HANDLER", "HANDLER_ERROR", "PROTOCOL_ERROR"),
    payload,
  }),
  fc.record({ kind: fc.constant("heartbeat" as const) }),
  fc.record({ kind: fc.constant("hello" as const), payload }),
);

/** `bytes` cut at `cuts` (sorted, deduplicated offsets). */
function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const point of points) {
    chunks.push(bytes.subarray(from, point));
    from = point;
  }
  chunks.push(bytes.subarray(from));
  return chunks;
}

describe("frames", () => {
  it("round-trip any sequence of frames, however the stream is cut and batched", () => {
    fc.assert(
      fc.property(
        fc.array(frameArb, { maxLength: 40 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        fc.constantFrom(64, 1024, 64 * 1024),
        (frames, cuts, chunkBytes) => {
          const bytes = encode(frames, chunkBytes);
          const { frames: decoded, sink } = recorder();
          const reader = new FrameReader(sink);
          for (const chunk of split(bytes, cuts)) reader.push(chunk);
          expect(decoded).toEqual(frames);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("interns subjects: a repeated subject costs a varint, not its name", () => {
    const once = encode([{ kind: "oneWay", subject: "flowstore.backup", payload: [1] }]);
    const twice = encode([
      { kind: "oneWay", subject: "flowstore.backup", payload: [1] },
      { kind: "oneWay", subject: "flowstore.backup", payload: [1] },
    ]);
    expect(twice.length - once.length).toBe(4 + 1 + 1 + 1); // length, kind, subject id, payload
  });

  it("fuzz: arbitrary bytes never make the reader throw anything but FrameError", () => {
    fc.assert(
      fc.property(
        fc.array(frameArb, { maxLength: 5 }),
        fc.uint8Array({ maxLength: 200 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        fc.integer({ min: 1, max: 512 }),
        (prefix, garbage, cuts, limit) => {
          const bytes = Buffer.concat([encode(prefix), Buffer.from(garbage)]);
          const reader = new FrameReader(recorder().sink, limit);
          try {
            for (const chunk of split(bytes, cuts)) reader.push(chunk);
          } catch (error) {
            expect(error).toBeInstanceOf(FrameError);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("fuzz: a valid stream with bytes flipped fails only with FrameError", () => {
    fc.assert(
      fc.property(
        fc.array(frameArb, { minLength: 1, maxLength: 10 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 5,
        }),
        (frames, flips) => {
          const bytes = encode(frames);
          for (const [at, value] of flips) bytes[at % bytes.length] = value;
          const reader = new FrameReader(recorder().sink, 4096);
          try {
            reader.push(bytes);
          } catch (error) {
            expect(error).toBeInstanceOf(FrameError);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it.each([
    ["a zero length", [0, 0, 0, 0]],
    ["a frame over the limit", [0, 0, 4, 1, FrameKind.HEARTBEAT]],
    ["an unknown kind", [0, 0, 0, 1, 42]],
    ["a heartbeat with a body", [0, 0, 0, 2, FrameKind.HEARTBEAT, 0]],
    ["an undefined subject", [0, 0, 0, 3, FrameKind.ONE_WAY, 0, 9]],
    ["a truncated varint", [0, 0, 0, 2, FrameKind.ONE_WAY, 0x80]],
    ["a varint over 5 bytes", [0, 0, 0, 7, FrameKind.REPLY, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]],
    ["a bad reply status", [0, 0, 0, 3, FrameKind.REPLY, 1, 9]],
    ["subjects out of order", [0, 0, 0, 3, FrameKind.SUBJECT, 3, 0x61]],
    ["an empty subject name", [0, 0, 0, 2, FrameKind.SUBJECT, 0]],
  ])("refuses %s", (_name, bytes) => {
    const reader = new FrameReader(recorder().sink, 1024);
    expect(() => reader.push(Buffer.from(bytes))).toThrow(FrameError);
  });

  it("waits for the rest of a frame split anywhere, and stops after stop()", () => {
    const { frames, sink } = recorder();
    const reader = new FrameReader(sink);
    const bytes = encode([{ kind: "heartbeat" }, { kind: "oneWay", subject: "s", payload: [7] }]);
    reader.push(bytes.subarray(0, 7));
    expect(frames).toEqual([{ kind: "heartbeat" }]);
    reader.stop();
    reader.push(bytes.subarray(7));
    expect(frames).toEqual([{ kind: "heartbeat" }]);
  });

  it("batches a burst of writes into one sink call per tick", async () => {
    const writes: number[] = [];
    const writer = new FrameWriter((bytes) => writes.push(bytes.length));
    for (let i = 0; i < 100; i++) writer.oneWay("s", new Uint8Array(10));
    expect(writes).toEqual([]);
    await Promise.resolve();
    expect(writes).toHaveLength(1);
    expect(writes[0]).toBe(4 + 1 + 1 + 1 + 100 * (4 + 1 + 1 + 10));
  });
});
