import type { z } from "zod";
import { DecodeError } from "./decodeError.js";
import { compileFastValidator, type FastValidator } from "./fastValidator.js";
import { pack, unpack } from "./msgpack.js";

/** Turns values of one type into bytes and back. */
export interface Serializer<T> {
  /** The type's registered name, used in error messages. */
  readonly typeName: string;
  /** Bytes for `value`. Throws `TypeError` for a value that cannot be represented. */
  encode(value: T): Uint8Array;
  /** The value in `bytes`, validated; throws {@link DecodeError} for anything else. */
  decode(bytes: Uint8Array): T;
}

/**
 * A serializer for one schema with no type id on the wire: for a file whose type is known
 * from its place, or a payload whose type the envelope already names.
 */
export function createSerializer<S extends z.ZodType>(
  typeName: string,
  schema: S,
): Serializer<z.output<S>> {
  const check = createValidator(typeName, schema);
  return {
    typeName,
    encode: (value) => pack(value),
    decode: (bytes) => check(unpack(bytes, typeName)),
  };
}

/**
 * A function that checks a decoded value against `schema` and returns it, or throws a
 * {@link DecodeError} naming the type and the path of the failing field.
 *
 * @remarks A value that the compiled fast path proves already valid is returned as it is;
 * anything else goes through zod, which copies, strips unknown keys and explains failures.
 */
export function createValidator<S extends z.ZodType>(
  typeName: string,
  schema: S,
): (raw: unknown) => z.output<S> {
  const fast: FastValidator | undefined = compileFastValidator(schema);
  return (raw) => {
    if (fast?.(raw)) return raw as z.output<S>;
    return validate(typeName, schema, raw);
  };
}

/** `raw` checked against `schema` by zod; a failure is a {@link DecodeError} naming the path. */
export function validate<S extends z.ZodType>(
  typeName: string,
  schema: S,
  raw: unknown,
): z.output<S> {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  throw DecodeError.fromZod(typeName, result.error);
}
