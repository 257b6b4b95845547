// The wire format of one connection: length-prefixed frames, written in batches.
//
//   frame   = length:u32be kind:u8 body          (length counts kind + body)
//   HELLO     body = msgpack hello (see handshake.ts)
//   REFUSE    body = utf-8 reason
//   AUTH      body = proof bytes (empty without a cluster secret)
//   SUBJECT   body = id:varint name:utf-8         defines a subject id on this connection
//   ONE_WAY   body = subject:varint payload
//   REQUEST   body = subject:varint request:varint payload
//   REPLY     body = request:varint status:u8 payload (status ≠ OK: utf-8 reason)
//   HEARTBEAT body = empty
//
// Subjects are interned per connection and direction: the first message on a subject is
// preceded by a SUBJECT frame, later ones carry a one- or two-byte id.

import { Buffer } from "node:buffer";

/** Kinds of frame on the wire. */
export const FrameKind = {
  HELLO: 1,
  REFUSE: 2,
  AUTH: 3,
  SUBJECT: 4,
  ONE_WAY: 5,
  REQUEST: 6,
  REPLY: 7,
  HEARTBEAT: 8,
} as const;

/** How a request was answered: its payload is the reply only for `OK`. */
export type ReplyStatus = "OK" | "NO_HANDLER" | "HANDLER_ERROR" | "PROTOCOL_ERROR";

const STATUS_CODES: readonly ReplyStatus[] = [
  "OK",
  "NO_HANDLER",
  "HANDLER_ERROR",
  "PROTOCOL_ERROR",
];
const STATUS_BYTES: Record<ReplyStatus, number> = {
  OK: 0,
  NO_HANDLER: 1,
  HANDLER_ERROR: 2,
  PROTOCOL_ERROR: 3,
};

/** Default largest frame (kind + body) a connection accepts: 16 MiB. */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;

/** Most subjects one peer may define on one connection. */
export const MAX_SUBJECTS_PER_CONNECTION = 65_536;

/** Longest subject name, in UTF-8 bytes. */
export const MAX_SUBJECT_BYTES = 255;

const HEADER_BYTES = 5;
const DEFAULT_CHUNK_BYTES = 64 * 1024;

/** Bytes on a connection that break the wire format; the connection is dropped. */
export class FrameError extends Error {
  override readonly name = "FrameError";
}

/** What a {@link FrameReader} found in the bytes, frame by frame. */
export interface FrameSink {
  onHello(body: Buffer): void;
  onRefuse(reason: string): void;
  onAuth(proof: Buffer): void;
  onOneWay(subject: string, payload: Buffer): void;
  onRequest(id: number, subject: string, payload: Buffer): void;
  onReply(id: number, status: ReplyStatus, payload: Buffer): void;
  onHeartbeat(): void;
}

/**
 * Cuts a byte stream into frames and parses each into a call on its {@link FrameSink}.
 *
 * @remarks Payloads are views into the received chunk (no copy). Any violation — a length of
 * zero or over the limit, an unknown kind, a bad varint, an undefined subject — throws a
 * {@link FrameError}; the caller drops the connection.
 */
export class FrameReader {
  #maxFrameBytes: number;
  readonly #sink: FrameSink;
  readonly #subjects: string[] = [];
  /** Chunks of a frame not yet complete, and their total length. */
  #pending: Buffer[] = [];
  #buffered = 0;
  #stopped = false;
  #pos = 0;

  constructor(sink: FrameSink, maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES) {
    this.#sink = sink;
    this.#maxFrameBytes = maxFrameBytes;
  }

  /** Changes the largest frame accepted from now on (small until a handshake completes). */
  set maxFrameBytes(bytes: number) {
    this.#maxFrameBytes = bytes;
  }

  /** Stops parsing: frames still buffered, or in later chunks, are ignored. */
  stop(): void {
    this.#stopped = true;
    this.#pending = [];
    this.#buffered = 0;
  }

  /**
   * Parses every complete frame in `chunk` (after any bytes left over from before).
   *
   * @remarks A frame that spans many chunks is joined once, when its last chunk arrives: a
   * frame of megabytes read in 64 KiB chunks is copied once, not once per chunk.
   */
  push(chunk: Buffer): void {
    if (this.#stopped) return;
    let data = chunk;
    if (this.#buffered > 0) {
      this.#pending.push(chunk);
      this.#buffered += chunk.length;
      if (this.#buffered < this.#pendingFrameEnd()) return;
      data = Buffer.concat(this.#pending, this.#buffered);
      this.#pending = [];
      this.#buffered = 0;
    }
    let offset = 0;
    while (!this.#stopped && data.length - offset >= 4) {
      const length = this.#checkLength(data.readUInt32BE(offset));
      if (data.length - offset - 4 < length) break;
      const kind = data[offset + 4]!;
      const body = data.subarray(offset + HEADER_BYTES, offset + 4 + length);
      offset += 4 + length;
      this.#frame(kind, body);
    }
    if (!this.#stopped && offset < data.length) {
      // Copy the tail so a large chunk is not kept alive by a few leftover bytes.
      this.#pending = [Buffer.from(data.subarray(offset))];
      this.#buffered = data.length - offset;
    }
  }

  /** Where the first buffered frame ends: 4 until its length is in, then 4 + its length. */
  #pendingFrameEnd(): number {
    if (this.#buffered < 4) return 4;
    if (this.#pending[0]!.length < 4)
      this.#pending = [Buffer.concat(this.#pending, this.#buffered)];
    return 4 + this.#checkLength(this.#pending[0]!.readUInt32BE(0));
  }

  #checkLength(length: number): number {
    if (length < 1 || length > this.#maxFrameBytes) {
      throw new FrameError(`frame of ${length} bytes (limit ${this.#maxFrameBytes})`);
    }
    return length;
  }

  #frame(kind: number, body: Buffer): void {
    const sink = this.#sink;
    switch (kind) {
      case FrameKind.HELLO:
        sink.onHello(body);
        return;
      case FrameKind.REFUSE:
        sink.onRefuse(body.toString("utf8"));
        return;
      case FrameKind.AUTH:
        sink.onAuth(body);
        return;
      case FrameKind.SUBJECT: {
        this.#pos = 0;
        const id = this.#varint(body);
        if (id !== this.#subjects.length) {
          throw new FrameError(`subject id ${id} out of order (expected ${this.#subjects.length})`);
        }
        if (id >= MAX_SUBJECTS_PER_CONNECTION) throw new FrameError("too many subjects");
        const name = body.toString("utf8", this.#pos);
        if (name.length === 0 || body.length - this.#pos > MAX_SUBJECT_BYTES) {
          throw new FrameError("subject name empty or too long");
        }
        this.#subjects.push(name);
        return;
      }
      case FrameKind.ONE_WAY: {
        this.#pos = 0;
        const subject = this.#subject(body);
        sink.onOneWay(subject, body.subarray(this.#pos));
        return;
      }
      case FrameKind.REQUEST: {
        this.#pos = 0;
        const subject = this.#subject(body);
        const id = this.#varint(body);
        sink.onRequest(id, subject, body.subarray(this.#pos));
        return;
      }
      case FrameKind.REPLY: {
        this.#pos = 0;
        const id = this.#varint(body);
        const code = body[this.#pos];
        const status = code === undefined ? undefined : STATUS_CODES[code];
        if (status === undefined) throw new FrameError(`bad reply status ${String(code)}`);
        sink.onReply(id, status, body.subarray(this.#pos + 1));
        return;
      }
      case FrameKind.HEARTBEAT:
        if (body.length !== 0) throw new FrameError("heartbeat with a body");
        sink.onHeartbeat();
        return;
      default:
        throw new FrameError(`unknown frame kind ${kind}`);
    }
  }

  #subject(body: Buffer): string {
    const id = this.#varint(body);
    const subject = this.#subjects[id];
    if (subject === undefined) throw new FrameError(`undefined subject id ${id}`);
    return subject;
  }

  /** An unsigned LEB128 varint of at most 32 bits at `#pos`; advances `#pos`. */
  #varint(body: Buffer): number {
    let value = 0;
    let shift = 0;
    for (let i = 0; i < 5; i++) {
      const byte = body[this.#pos++];
      if (byte === undefined) throw new FrameError("truncated varint");
      value += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) {
        if (value > 0xffffffff) throw new FrameError("varint over 32 bits");
        return value;
      }
      shift += 7;
    }
    throw new FrameError("varint longer than 5 bytes");
  }
}

function varintSize(value: number): number {
  return value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x200000 ? 3 : value < 0x10000000 ? 4 : 5;
}

/**
 * Encodes frames into one buffer and hands it to `sink` once per tick (or whenever it fills),
 * so a burst of small messages costs one socket write.
 *
 * @remarks The written part of the buffer is given away; the rest is kept for the next batch,
 * so a steady trickle does not allocate a chunk per write.
 */
export class FrameWriter {
  readonly #sink: (bytes: Buffer) => void;
  readonly #chunkBytes: number;
  readonly #subjects = new Map<string, number>();
  readonly #flushTask = () => {
    this.#scheduled = false;
    this.flush();
  };
  #buffer: Buffer;
  #offset = 0;
  #scheduled = false;
  #closed = false;

  constructor(sink: (bytes: Buffer) => void, chunkBytes: number = DEFAULT_CHUNK_BYTES) {
    this.#sink = sink;
    this.#chunkBytes = chunkBytes;
    this.#buffer = Buffer.allocUnsafe(chunkBytes);
  }

  /** A control frame (`HELLO`, `REFUSE`, `AUTH`) with `body`. */
  control(kind: 1 | 2 | 3, body: Uint8Array): void {
    const at = this.#reserve(HEADER_BYTES + body.length);
    const buffer = this.#buffer;
    buffer.writeUInt32BE(1 + body.length, at);
    buffer[at + 4] = kind;
    buffer.set(body, at + HEADER_BYTES);
    this.#written(at + HEADER_BYTES + body.length);
  }

  /** A one-way message. */
  oneWay(subject: string, payload: Uint8Array): void {
    const sid = this.#subjectId(subject);
    const size = 1 + varintSize(sid) + payload.length;
    const at = this.#reserve(4 + size);
    const buffer = this.#buffer;
    buffer.writeUInt32BE(size, at);
    buffer[at + 4] = FrameKind.ONE_WAY;
    const end = writeVarint(buffer, at + HEADER_BYTES, sid);
    buffer.set(payload, end);
    this.#written(end + payload.length);
  }

  /** A request `id` on `subject`. */
  request(id: number, subject: string, payload: Uint8Array): void {
    const sid = this.#subjectId(subject);
    const size = 1 + varintSize(sid) + varintSize(id) + payload.length;
    const at = this.#reserve(4 + size);
    const buffer = this.#buffer;
    buffer.writeUInt32BE(size, at);
    buffer[at + 4] = FrameKind.REQUEST;
    let end = writeVarint(buffer, at + HEADER_BYTES, sid);
    end = writeVarint(buffer, end, id);
    buffer.set(payload, end);
    this.#written(end + payload.length);
  }

  /** The reply to request `id`. */
  reply(id: number, status: ReplyStatus, payload: Uint8Array): void {
    const size = 2 + varintSize(id) + payload.length;
    const at = this.#reserve(4 + size);
    const buffer = this.#buffer;
    buffer.writeUInt32BE(size, at);
    buffer[at + 4] = FrameKind.REPLY;
    const end = writeVarint(buffer, at + HEADER_BYTES, id);
    buffer[end] = STATUS_BYTES[status];
    buffer.set(payload, end + 1);
    this.#written(end + 1 + payload.length);
  }

  /** A heartbeat. */
  heartbeat(): void {
    const at = this.#reserve(HEADER_BYTES);
    this.#buffer.writeUInt32BE(1, at);
    this.#buffer[at + 4] = FrameKind.HEARTBEAT;
    this.#written(at + HEADER_BYTES);
  }

  /** Hands everything encoded so far to the sink now. */
  flush(): void {
    if (this.#offset === 0 || this.#closed) return;
    const out = this.#buffer.subarray(0, this.#offset);
    this.#buffer = this.#buffer.subarray(this.#offset);
    this.#offset = 0;
    this.#sink(out);
  }

  /** Drops whatever is not yet flushed; later frames are ignored. */
  close(): void {
    this.#closed = true;
    this.#offset = 0;
  }

  #subjectId(subject: string): number {
    const known = this.#subjects.get(subject);
    if (known !== undefined) return known;
    const id = this.#subjects.size;
    const nameBytes = Buffer.byteLength(subject, "utf8");
    if (nameBytes === 0 || nameBytes > MAX_SUBJECT_BYTES) {
      throw new RangeError(`subject must be 1…${MAX_SUBJECT_BYTES} UTF-8 bytes: ${subject}`);
    }
    const size = 1 + varintSize(id) + nameBytes;
    const at = this.#reserve(4 + size);
    const buffer = this.#buffer;
    buffer.writeUInt32BE(size, at);
    buffer[at + 4] = FrameKind.SUBJECT;
    const end = writeVarint(buffer, at + HEADER_BYTES, id);
    buffer.write(subject, end, "utf8");
    this.#written(end + nameBytes);
    this.#subjects.set(subject, id);
    return id;
  }

  /** Room for `bytes` more at the returned offset. */
  #reserve(bytes: number): number {
    if (this.#buffer.length - this.#offset < bytes) {
      this.flush();
      if (this.#buffer.length < bytes) {
        this.#buffer = Buffer.allocUnsafe(Math.max(this.#chunkBytes, bytes));
      }
    }
    return this.#offset;
  }

  #written(end: number): void {
    this.#offset = end;
    if (this.#offset >= this.#chunkBytes / 2) {
      this.flush();
    } else if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#flushTask);
    }
  }
}

function writeVarint(buffer: Buffer, at: number, value: number): number {
  let rest = value;
  let pos = at;
  while (rest >= 0x80) {
    buffer[pos++] = (rest & 0x7f) | 0x80;
    rest = Math.floor(rest / 128);
  }
  buffer[pos++] = rest;
  return pos;
}
