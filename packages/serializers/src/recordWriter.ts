import { Buffer } from "node:buffer";

/**
 * The bytes msgpackr writes for a value with records (`useRecords`), written faster — a list
 * of flow entries in a third of msgpackr's time — for values made of plain objects, arrays,
 * strings, numbers, bigints, booleans and null. Anything else — `undefined`, a `Map`, a typed array, a class instance — makes
 * {@link RecordWriter.write} answer `undefined`, and the caller packs the value with msgpackr
 * itself. Two ways to name an object's shape (its keys, in order):
 *
 * - **Shared shapes** (a writer made over a `structures` list, as flow-persistence keeps on
 *   disk): shape `i` is the record id `0x40 + i`, in two bytes from `0x60` on (more than 32
 *   shared shapes). A shape not in the list yet is left to msgpackr, which adds it.
 * - **Shapes in the message** (a writer made without a list, as every flowstore message is
 *   packed): the first object of each shape in a value defines it inline — msgpackr's record
 *   definition, `0xd4 0x72 id` and the list of keys — with ids from `0x40` in order, and the
 *   objects after it name it by that id. More than 64 shapes in one value are left to
 *   msgpackr. The bytes are self-describing: any msgpackr unpacker with records reads them.
 *
 * @remarks msgpackr finds an object's shape by walking its keys with `for…in` and
 * `hasOwnProperty` twice per object, and writes a message's shapes anew for every message;
 * a flow entry is some ten objects. This writer keeps the same rules byte for byte (the tests
 * compare the two): positive integers below `0x40` are one byte (`0x40`–`0x7f` are record
 * ids); strings take the smallest header. A frozen object met again in the same value (the
 * treatment a thousand rules share) has its first bytes copied rather than walked again:
 * 15 % off encoding a forward of 1,000 rules or a backup of 1,000 entries, in a benchmark of
 * the writer alone.
 */
export class RecordWriter {
  /** The shared shapes, or undefined when each value defines its own. */
  readonly #structures: readonly (readonly string[])[] | undefined;
  /** The shapes as a tree of keys: a node stands for the keys leading to it. */
  #root: ShapeNode = newNode();
  /** Shared shapes: how many of the list `#root` holds. */
  #learned = 0;
  /** Own shapes: how many nodes `#root` has. */
  #nodes = 0;
  /** Own shapes: the value being written (a node's `epoch` says it is defined in it). */
  #epoch = 0;
  /** Own shapes: how many the value being written defined. */
  #defined = 0;
  /** Frozen objects written in the value being written, with where their bytes are. */
  readonly #frozen = new Map<object, { readonly start: number; readonly end: number }>();
  #buffer = new Uint8Array(64 * 1024);
  #view = new DataView(this.#buffer.buffer);
  #position = 0;

  /**
   * A writer over `structures`, the list msgpackr keeps (shapes it adds are picked up); with
   * no list, a writer whose values each define their shapes.
   */
  constructor(structures?: readonly (readonly string[])[]) {
    this.#structures = structures;
  }

  /**
   * `value` as msgpackr packs it, after a header of `header` bytes that starts with the two
   * bytes of `type` (the rest zero, for the caller to fill); undefined if `value` holds
   * something this writer leaves to msgpackr.
   */
  write(type: number, value: unknown, header = 2): Uint8Array | undefined {
    this.#begin();
    this.#room(header);
    this.#buffer.fill(0, 0, header);
    this.#buffer[0] = type >>> 8;
    this.#buffer[1] = type & 0xff;
    this.#position = header;
    if (!this.#value(value)) return undefined;
    return this.#output();
  }

  /** `value` as msgpackr packs it, with no header; undefined as for {@link write}. */
  pack(value: unknown): Uint8Array | undefined {
    this.#begin();
    if (!this.#value(value)) return undefined;
    return this.#output();
  }

  /**
   * The bytes written, in a buffer of their own: from Node.js's pool of small buffers when
   * they fit (a typed array's own allocation, as `slice` makes, took five times as long as the
   * copy for a record of a few entries).
   */
  #output(): Uint8Array {
    const out = Buffer.allocUnsafe(this.#position);
    out.set(this.#buffer.subarray(0, this.#position));
    return out;
  }

  #begin(): void {
    this.#position = 0;
    if (this.#frozen.size > 0) this.#frozen.clear();
    if (this.#structures === undefined) {
      this.#epoch++;
      this.#defined = 0;
      // Keys come from the values: a tree grown past this by varied keys starts over.
      if (this.#nodes > MAX_OWN_NODES) {
        this.#root = newNode();
        this.#nodes = 0;
      }
    } else if (this.#learned !== this.#structures.length) this.#learnShapes(this.#structures);
  }

  #learnShapes(structures: readonly (readonly string[])[]): void {
    const root = newNode();
    structures.forEach((keys, i) => {
      let node = root;
      for (const key of keys) node = childOf(node, key);
      node.id = 0x40 + i;
    });
    this.#root = root;
    this.#learned = structures.length;
  }

  /** Writes `value`; false if it holds something left to msgpackr. */
  #value(value: unknown): boolean {
    switch (typeof value) {
      case "string":
        this.#string(value);
        return true;
      case "number":
        this.#number(value);
        return true;
      case "bigint":
        return this.#bigint(value);
      case "boolean":
        this.#room(1);
        this.#buffer[this.#position++] = value ? 0xc3 : 0xc2;
        return true;
      case "object":
        if (value === null) {
          this.#room(1);
          this.#buffer[this.#position++] = 0xc0;
          return true;
        }
        if (Array.isArray(value)) return value.constructor === Array && this.#array(value);
        return value.constructor === Object && this.#record(value as Record<string, unknown>);
      default:
        return false;
    }
  }

  #array(values: readonly unknown[]): boolean {
    const length = values.length;
    this.#room(5);
    const buffer = this.#buffer;
    if (length < 0x10) buffer[this.#position++] = 0x90 | length;
    else if (length < 0x10000) {
      buffer[this.#position++] = 0xdc;
      buffer[this.#position++] = length >> 8;
      buffer[this.#position++] = length & 0xff;
    } else {
      buffer[this.#position++] = 0xdd;
      this.#view.setUint32(this.#position, length);
      this.#position += 4;
    }
    for (let i = 0; i < length; i++) if (!this.#value(values[i])) return false;
    return true;
  }

  #record(object: Record<string, unknown>): boolean {
    if (!Object.isFrozen(object)) return this.#fields(object);
    // A frozen object (a treatment or criterion shared by many rules) is written once per
    // value; again, its bytes are copied — the same bytes, once its shapes are defined.
    const written = this.#frozen.get(object);
    if (written !== undefined) {
      const length = written.end - written.start;
      this.#room(length);
      this.#buffer.copyWithin(this.#position, written.start, written.end);
      this.#position += length;
      return true;
    }
    const start = this.#position;
    const defined = this.#defined;
    if (!this.#fields(object)) return false;
    if (this.#defined === defined) this.#frozen.set(object, { start, end: this.#position });
    return true;
  }

  #fields(object: Record<string, unknown>): boolean {
    const own = this.#structures === undefined;
    let node = this.#root;
    for (const key in object) {
      // Most keys have one key after them: a string comparison instead of a map lookup.
      let next = key === node.onlyKey ? node.onlyNext : node.next.get(key);
      if (next === undefined) {
        if (!own) return false;
        next = childOf(node, key);
        this.#nodes++;
      }
      node = next;
    }
    if (own) {
      if (node.epoch === this.#epoch) {
        this.#room(1);
        this.#buffer[this.#position++] = node.id!;
      } else {
        // The shape's first object in this value: msgpackr's record definition, then its keys.
        if (this.#defined === MAX_OWN_SHAPES) return false;
        node.id = 0x40 + this.#defined++;
        node.epoch = this.#epoch;
        this.#room(3);
        this.#buffer[this.#position++] = 0xd4;
        this.#buffer[this.#position++] = 0x72;
        this.#buffer[this.#position++] = node.id;
        node.keys ??= Object.keys(object);
        this.#array(node.keys);
      }
    } else {
      const id = node.id;
      if (id === undefined) return false;
      this.#room(2);
      if (id >= 0x60) {
        this.#buffer[this.#position++] = ((id - 0x60) & 0x1f) + 0x60;
        this.#buffer[this.#position++] = (id - 0x60) >> 5;
      } else {
        this.#buffer[this.#position++] = id;
      }
    }
    for (const key in object) if (!this.#value(object[key])) return false;
    return true;
  }

  #number(value: number): void {
    this.#room(9);
    const buffer = this.#buffer;
    if (value >>> 0 === value) {
      if (value < 0x40) buffer[this.#position++] = value;
      else if (value < 0x100) {
        buffer[this.#position++] = 0xcc;
        buffer[this.#position++] = value;
      } else if (value < 0x10000) {
        buffer[this.#position++] = 0xcd;
        buffer[this.#position++] = value >> 8;
        buffer[this.#position++] = value & 0xff;
      } else {
        buffer[this.#position++] = 0xce;
        this.#view.setUint32(this.#position, value);
        this.#position += 4;
      }
    } else if (value >> 0 === value) {
      if (value >= -0x20) buffer[this.#position++] = 0x100 + value;
      else if (value >= -0x80) {
        buffer[this.#position++] = 0xd0;
        buffer[this.#position++] = value + 0x100;
      } else if (value >= -0x8000) {
        buffer[this.#position++] = 0xd1;
        this.#view.setInt16(this.#position, value);
        this.#position += 2;
      } else {
        buffer[this.#position++] = 0xd2;
        this.#view.setInt32(this.#position, value);
        this.#position += 4;
      }
    } else {
      buffer[this.#position++] = 0xcb;
      this.#view.setFloat64(this.#position, value);
      this.#position += 8;
    }
  }

  #bigint(value: bigint): boolean {
    this.#room(9);
    if (value < 0x8000000000000000n && value >= -0x8000000000000000n) {
      this.#buffer[this.#position++] = 0xd3;
      this.#view.setBigInt64(this.#position, value);
    } else if (value < 0x10000000000000000n && value > 0n) {
      this.#buffer[this.#position++] = 0xcf;
      this.#view.setBigUint64(this.#position, value);
    } else {
      return false;
    }
    this.#position += 8;
    return true;
  }

  #string(value: string): void {
    const length = value.length;
    const header = length < 0x20 ? 1 : length < 0x100 ? 2 : length < 0x10000 ? 3 : 5;
    this.#room(header + length * 3);
    const buffer = this.#buffer;
    const start = this.#position;
    let at = start + header;
    let i = 0;
    // ASCII (flow fields mostly are) needs no case analysis: one byte a character.
    for (; i < length; i++) {
      const c = value.charCodeAt(i);
      if (c >= 0x80) break;
      buffer[at++] = c;
    }
    for (; i < length; i++) {
      let c1 = value.charCodeAt(i);
      const c2 = (c1 & 0xfc00) === 0xd800 ? value.charCodeAt(i + 1) : 0;
      if (c1 < 0x80) buffer[at++] = c1;
      else if (c1 < 0x800) {
        buffer[at++] = (c1 >> 6) | 0xc0;
        buffer[at++] = (c1 & 0x3f) | 0x80;
      } else if ((c2 & 0xfc00) === 0xdc00) {
        // A surrogate pair: one code point in four bytes.
        c1 = 0x10000 + ((c1 & 0x03ff) << 10) + (c2 & 0x03ff);
        i++;
        buffer[at++] = (c1 >> 18) | 0xf0;
        buffer[at++] = ((c1 >> 12) & 0x3f) | 0x80;
        buffer[at++] = ((c1 >> 6) & 0x3f) | 0x80;
        buffer[at++] = (c1 & 0x3f) | 0x80;
      } else {
        buffer[at++] = (c1 >> 12) | 0xe0;
        buffer[at++] = ((c1 >> 6) & 0x3f) | 0x80;
        buffer[at++] = (c1 & 0x3f) | 0x80;
      }
    }
    const bytes = at - start - header;
    // The header is as msgpackr writes it: sized by the encoded length, the bytes moved up
    // when the estimate from the character count was too small.
    const size = bytes < 0x20 ? 1 : bytes < 0x100 ? 2 : bytes < 0x10000 ? 3 : 5;
    if (header < size) buffer.copyWithin(start + size, start + header, at);
    if (size === 1) buffer[start] = 0xa0 | bytes;
    else if (size === 2) {
      buffer[start] = 0xd9;
      buffer[start + 1] = bytes;
    } else if (size === 3) {
      buffer[start] = 0xda;
      buffer[start + 1] = bytes >> 8;
      buffer[start + 2] = bytes & 0xff;
    } else {
      buffer[start] = 0xdb;
      this.#view.setUint32(start + 1, bytes);
    }
    this.#position = start + size + bytes;
  }

  /** Makes room for `bytes` more bytes (and the header moves of a string). */
  #room(bytes: number): void {
    const needed = this.#position + bytes + 8;
    if (needed <= this.#buffer.length) return;
    const grown = new Uint8Array(Math.max(needed, this.#buffer.length * 2));
    grown.set(this.#buffer.subarray(0, this.#position));
    this.#buffer = grown;
    this.#view = new DataView(grown.buffer);
  }
}

/** The most shapes one value defines (msgpackr's own record ids, `0x40`–`0x7f`). */
const MAX_OWN_SHAPES = 64;
/** The most keys an own-shape writer remembers before it starts its tree over. */
const MAX_OWN_NODES = 4096;

interface ShapeNode {
  readonly next: Map<string, ShapeNode>;
  /** The only key after this one, if there is one. */
  onlyKey: string | undefined;
  onlyNext: ShapeNode | undefined;
  /** The record id of the keys leading here (shared: fixed; own: in the value `epoch`). */
  id: number | undefined;
  /** Own shapes: the value in which `id` was defined. */
  epoch: number;
  /** Own shapes: the keys leading here, for the definition. */
  keys: string[] | undefined;
}

function newNode(): ShapeNode {
  return {
    next: new Map(),
    onlyKey: undefined,
    onlyNext: undefined,
    id: undefined,
    epoch: 0,
    keys: undefined,
  };
}

/** The node after `node` for `key`, made if it is not there yet. */
function childOf(node: ShapeNode, key: string): ShapeNode {
  let next = node.next.get(key);
  if (next !== undefined) return next;
  next = newNode();
  node.next.set(key, next);
  if (node.next.size === 1) {
    node.onlyKey = key;
    node.onlyNext = next;
  } else {
    node.onlyKey = undefined;
    node.onlyNext = undefined;
  }
  return next;
}
