import { createHash } from "node:crypto";
import type { z } from "zod";
import { DecodeError } from "./decodeError.js";
import { packTyped, unpack } from "./msgpack.js";
import { createValidator, type Serializer } from "./serializer.js";

/** Names of a namespace's types mapped to the values they stand for. */
export type TypeMap = Record<string, unknown>;

/** A type id is written as two bytes in front of every encoded value. */
export const MAX_TYPE_ID = 0xffff;

/** One registered type: its stable id, its name and the schema that validates it. */
export interface Registration {
  readonly id: number;
  readonly name: string;
  readonly schema: z.ZodType;
  /** The namespace that registered it (an included namespace keeps its own name here). */
  readonly namespace: string;
}

/** A decoded value together with the name of its registered type. */
export type Decoded<Types extends TypeMap> = {
  [K in keyof Types & string]: { readonly type: K; readonly value: Types[K] };
}[keyof Types & string];

/**
 * A fixed set of registered types: what one subsystem sends, with a stable numeric id each.
 *
 * @remarks The bytes of a value are its two-byte type id followed by its msgpack encoding, so
 * any receiver can tell what it got, and a value of the wrong type is refused rather than
 * misread. Two nodes whose namespaces have the same {@link Namespace.fingerprint} agree on
 * every id and schema; cluster messaging compares fingerprints in its handshake.
 */
export interface Namespace<Types extends TypeMap> {
  readonly name: string;
  /** A stable hash of every registration (id, name, schema), 16 hex digits. */
  readonly fingerprint: string;
  /** Every registration, including those of included namespaces, by ascending id. */
  readonly registrations: readonly Registration[];
  /** Whether `typeName` is registered. */
  has(typeName: string): typeName is keyof Types & string;
  /** A serializer for one registered type: it encodes with the type id and decodes only that id. */
  serializer<K extends keyof Types & string>(typeName: K): Serializer<Types[K]>;
  /** Bytes for `value` as the registered type `typeName`. */
  encode<K extends keyof Types & string>(typeName: K, value: Types[K]): Uint8Array;
  /** A value of any registered type, with its type name. */
  decode(bytes: Uint8Array): Decoded<Types>;
}

/** Builds a {@link Namespace}: include other namespaces, register types, then `build()`. */
export interface NamespaceBuilder<Types extends TypeMap> {
  /** Adds every registration of `namespace` (its ids must not clash with this one's). */
  include<More extends TypeMap>(namespace: Namespace<More>): NamespaceBuilder<Types & More>;
  /** Registers `schema` as `typeName` under the stable `id` (0…65535). */
  register<N extends string, S extends z.ZodType>(
    id: number,
    typeName: N,
    schema: S,
  ): NamespaceBuilder<Types & { [K in N]: z.output<S> }>;
  /** The finished namespace. Throws if two registrations share an id or a name. */
  build(): Namespace<Types>;
}

/**
 * Starts a namespace named `name`.
 *
 * @example
 * const common = createNamespace("common").register(1, "NodeId", z.string()).build();
 * const store = createNamespace("store")
 *   .include(common)
 *   .register(100, "Digest", z.object({ bucket: z.number(), term: z.bigint() }))
 *   .build();
 * const bytes = store.encode("Digest", { bucket: 3, term: 7n });
 * store.decode(bytes); // { type: "Digest", value: { bucket: 3, term: 7n } }
 */
export function createNamespace(name: string): NamespaceBuilder<Record<never, never>> {
  return builder(name, []);
}

function builder<Types extends TypeMap>(
  name: string,
  registrations: readonly Registration[],
): NamespaceBuilder<Types> {
  return {
    include: (namespace) => builder(name, [...registrations, ...namespace.registrations]),
    register: (id, typeName, schema) => {
      if (!Number.isInteger(id) || id < 0 || id > MAX_TYPE_ID) {
        throw new RangeError(
          `${name}: type id of ${typeName} must be an integer in 0…${MAX_TYPE_ID}, got ${id}`,
        );
      }
      return builder(name, [...registrations, { id, name: typeName, schema, namespace: name }]);
    },
    build: () => buildNamespace<Types>(name, registrations),
  };
}

function buildNamespace<Types extends TypeMap>(
  name: string,
  all: readonly Registration[],
): Namespace<Types> {
  const byId = new Map<number, Registration>();
  const byName = new Map<string, Registration>();
  for (const registration of all) {
    // The same registration reached through two includes is one registration.
    if (byId.get(registration.id) === registration) continue;
    const clash = byId.get(registration.id) ?? byName.get(registration.name);
    if (clash !== undefined) {
      throw new Error(
        `${name}: ${registration.namespace}.${registration.name} (id ${registration.id}) clashes with ${clash.namespace}.${clash.name} (id ${clash.id})`,
      );
    }
    byId.set(registration.id, registration);
    byName.set(registration.name, registration);
  }
  const registrations = [...byId.values()].sort((a, b) => a.id - b.id);
  const serializers = new Map<string, Serializer<unknown>>();
  for (const registration of registrations) {
    serializers.set(registration.name, typedSerializer(registration, byId));
  }

  const lookup = (typeName: string): Serializer<unknown> => {
    const serializer = serializers.get(typeName);
    if (serializer === undefined) throw new Error(`${name}: no type named ${typeName}`);
    return serializer;
  };

  return {
    name,
    fingerprint: fingerprint(registrations),
    registrations,
    has: (typeName): typeName is keyof Types & string => byName.has(typeName),
    serializer: <K extends keyof Types & string>(typeName: K) =>
      lookup(typeName) as Serializer<Types[K]>,
    encode: (typeName, value) => lookup(typeName).encode(value),
    decode: (bytes) => {
      const id = readTypeId(bytes, undefined);
      const registration = byId.get(id);
      if (registration === undefined) {
        throw new DecodeError("UNKNOWN_TYPE", `type id ${id} is not registered in ${name}`);
      }
      const value = lookup(registration.name).decode(bytes);
      return { type: registration.name, value } as Decoded<Types>;
    },
  };
}

function typedSerializer(
  registration: Registration,
  byId: ReadonlyMap<number, Registration>,
): Serializer<unknown> {
  const { id, name, schema } = registration;
  const check = createValidator(name, schema);
  return {
    typeName: name,
    encode: (value) => packTyped(id, value),
    decode: (bytes) => {
      const found = readTypeId(bytes, name);
      if (found !== id) {
        const other = byId.get(found);
        throw new DecodeError(
          "WRONG_TYPE",
          other === undefined
            ? `expected type id ${id}, got unregistered id ${found}`
            : `expected type id ${id}, got ${other.name} (id ${found})`,
          { typeName: name },
        );
      }
      return check(unpack(bytes.subarray(2), name));
    },
  };
}

function readTypeId(bytes: Uint8Array, typeName: string | undefined): number {
  if (bytes.length < 3) {
    throw new DecodeError("TRUNCATED", `${bytes.length} bytes is too short for a typed value`, {
      ...(typeName === undefined ? {} : { typeName }),
    });
  }
  return (bytes[0]! << 8) | bytes[1]!;
}

/** A stable hash of the registrations: ids, names and the full structure of each schema. */
function fingerprint(registrations: readonly Registration[]): string {
  const described = registrations.map(({ id, name, schema }) => [id, name, describe(schema)]);
  return createHash("sha256").update(JSON.stringify(described)).digest("hex").slice(0, 16);
}

/**
 * A plain description of a zod schema's definition: its kind, its checks and every nested
 * schema, with recursive (lazy) schemas cut at the first repeat. Functions (refinements,
 * transforms) count only by their presence.
 */
function describe(root: z.ZodType): unknown {
  const seen = new Map<object, number>();
  const walk = (value: unknown): unknown => {
    if (typeof value === "bigint") return `${value}n`;
    if (typeof value === "function") return "fn";
    if (value === null || typeof value !== "object") return value ?? null;
    if (value instanceof RegExp) return value.source;
    if (Array.isArray(value)) return value.map(walk);
    const zod = (value as { _zod?: { def: Record<string, unknown> } })._zod;
    if (zod !== undefined) {
      const repeat = seen.get(value);
      if (repeat !== undefined) return { ref: repeat };
      seen.set(value, seen.size);
      const def = zod.def;
      if (def.type === "lazy" && typeof def.getter === "function") {
        return { type: "lazy", of: walk((def.getter as () => unknown)()) };
      }
      return walk(def);
    }
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      out[key] = walk((value as Record<string, unknown>)[key]);
    }
    return out;
  };
  return walk(root);
}
