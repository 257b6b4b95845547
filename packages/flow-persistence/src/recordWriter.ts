/**
 * The bytes msgpackr writes for a value with shared shapes (`useRecords` and a `structures`
 * list), written four times faster for values made of the shapes already in the list: plain
 * objects, arrays, strings, numbers, bigints, booleans and null. Anything else — a shape not in
 * the list yet, `undefined`, a `Map`, a typed array — makes {@link RecordWriter.write} answer
 * `undefined`, and the caller packs the value with msgpackr itself (which adds the shape).
 *
 * @remarks msgpackr finds an object's shape by walking its keys with `for…in` and
 * `hasOwnProperty` twice per object; a stored entry is some ten objects. This writer keeps the
 * same rules byte for byte (the tests compare the two): a shape `i` is the record id `0x40 + i`,
 * in two bytes from `0x60` on (more than 32 shared shapes); positive integers below `0x40` are
 * one byte (`0x40`–`0x7f` are record ids); strings take the smallest header.
 */
export class RecordWriter {
  readonly #structures: readonly (readonly string[])[];
  /** The shapes as a tree of keys; a node's `id` is the record id of the keys leading to it. */
  #root: ShapeNode = newNode();
  /** How many shapes of the list `#root` holds. */
  #known = 0;
  #buffer = new Uint8Array(64 * 1024);
  #view = new DataView(this.#buffer.buffer);
  #position = 0;

  /** A writer over `structures`, the list msgpackr keeps (shapes it adds are picked up). */
  constructor(structures: readonly (readonly string[])[]) {
    this.#structures = structures;
  }

  /**
   * `value` as msgpackr packs it with these shapes, after a header of `header` bytes that
   * starts with the two bytes of `type` (the rest zero, for the caller to fill); undefined if
   * `value` holds something this writer leaves to msgpackr.
   */
  write(type: number, value: unknown, header = 2): Uint8Array | undefined {
    if (this.#known !== this.#structures.length) this.#learnShapes();
    this.#position = 0;
    this.#room(header);
    this.#buffer.fill(0, 0, header);
    this.#buffer[0] = type >>> 8;
    this.#buffer[1] = type & 0xff;
    this.#position = header;
    if (!this.#value(value)) return undefined;
    return this.#buffer.slice(0, this.#position);
  }

  #learnShapes(): void {
    const root = newNode();
    this.#structures.forEach((keys, i) => {
      let node = root;
      for (const key of keys) {
        let next = node.next.get(key);
        if (next === undefined) {
          next = newNode();
          node.next.set(key, next);
        }
        if (node.next.size === 1) {
          node.onlyKey = key;
          node.onlyNext = next;
        } else {
          node.onlyKey = undefined;
          node.onlyNext = undefined;
        }
        node = next;
      }
      node.id = 0x40 + i;
    });
    this.#root = root;
    this.#known = this.#structures.length;
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
    let node = this.#root;
    for (const key in object) {
      // Most keys have one key after them: a string comparison instead of a map lookup.
      const next = key === node.onlyKey ? node.onlyNext : node.next.get(key);
      if (next === undefined) return false;
      node = next;
    }
    const id = node.id;
    if (id === undefined) return false;
    this.#room(2);
    if (id >= 0x60) {
      this.#buffer[this.#position++] = ((id - 0x60) & 0x1f) + 0x60;
      this.#buffer[this.#position++] = (id - 0x60) >> 5;
    } else {
      this.#buffer[this.#position++] = id;
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
    for (let i = 0; i < length; i++) {
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

interface ShapeNode {
  readonly next: Map<string, ShapeNode>;
  /** The only key after this one, if there is one. */
  onlyKey: string | undefined;
  onlyNext: ShapeNode | undefined;
  id: number | undefined;
}

function newNode(): ShapeNode {
  return { next: new Map(), onlyKey: undefined, onlyNext: undefined, id: undefined };
}
