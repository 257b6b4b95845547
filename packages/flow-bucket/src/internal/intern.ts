/**
 * A bounded table of shared immutable values, by a canonical key: the thousands of rules that
 * match `ETH_TYPE 0x800` or output to port 2 share one criterion or treatment object.
 *
 * @remarks Values are never removed. Once `capacity` keys are held, new values are returned
 * as they are (still correct, just not shared), so the table costs at most a few megabytes
 * however many distinct values pass through it.
 */
export class Interner<T extends object> {
  readonly #values = new Map<string, T>();
  readonly #capacity: number;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  /** The shared value for `key`, or `value` (frozen and shared from now on, if there is room). */
  intern(key: string, value: T): T {
    const shared = this.#values.get(key);
    if (shared !== undefined) return shared;
    if (this.#values.size < this.#capacity) this.#values.set(key, Object.freeze(value));
    return value;
  }

  /** The shared value for `key`, if there is one. */
  get(key: string): T | undefined {
    return this.#values.get(key);
  }

  /** How many values are shared. */
  get size(): number {
    return this.#values.size;
  }
}

/**
 * A stable text for a `{ type, …fields }` record, independent of key order:
 * `IPV4_DST{ip=10.0.0.0/24}`. Values are written with `String` (so `bigint`s keep every digit).
 */
export function recordKey(record: { readonly type: string }): string {
  const fields = record as unknown as Readonly<Record<string, unknown>>;
  const parts = Object.keys(fields)
    .filter((key) => key !== "type")
    .sort()
    .map((key) => `${key}=${String(fields[key])}`);
  return `${record.type}{${parts.join(",")}}`;
}

/**
 * A copy of `text` that holds only its own characters. A decoded string of 13 characters or
 * more (an address) is a slice of the whole message's text, and keeping it would keep that
 * text alive; a joined string is a new flat one.
 */
export function flat(text: string): string {
  return text.length < 13 ? text : [text.slice(0, 1), text.slice(1)].join("");
}
