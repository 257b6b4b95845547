import type { z } from "zod";

/** Says whether a value already is exactly what its schema would output. */
export type FastValidator = (value: unknown) => boolean;

type Def = Record<string, unknown> & {
  type: string;
  checks?: readonly { _zod: { def: CheckDef } }[];
};
type CheckDef = Record<string, unknown> & { check: string };

/**
 * Compiles `schema` into a predicate that accepts a value only when the schema would
 * accept it and output it unchanged — so a decoder can return the decoded value as it is,
 * without zod's copy.
 *
 * @remarks A fast path, never a replacement: the predicate answers `false` for anything it
 * is not sure of (unknown object keys that zod would strip, a check it does not know), and
 * the caller then runs the schema itself, which decides and produces the error message.
 * Returns `undefined` when the schema uses anything the compiler does not understand
 * (transforms, refinements, defaults…), so only zod ever sees such values.
 */
export function compileFastValidator(schema: z.ZodType): FastValidator | undefined {
  try {
    return compile(schema);
  } catch (error) {
    if (error instanceof Unsupported) return undefined;
    throw error;
  }
}

class Unsupported extends Error {}

function compile(schema: unknown): FastValidator {
  const def = (schema as { _zod?: { def: Def } })._zod?.def;
  if (def === undefined) throw new Unsupported("not a zod schema");
  const checks = (def.checks ?? []).map((c) => compileCheck(c._zod.def));
  const base = compileType(def);
  if (checks.length === 0) return base;
  return (value) => {
    if (!base(value)) return false;
    for (const check of checks) if (!check(value)) return false;
    return true;
  };
}

function compileType(def: Def): FastValidator {
  switch (def.type) {
    case "string":
      return (v) => typeof v === "string";
    case "number":
      return (v) => typeof v === "number" && Number.isFinite(v);
    case "bigint":
      return (v) => typeof v === "bigint";
    case "boolean":
      return (v) => typeof v === "boolean";
    case "null":
      return (v) => v === null;
    case "undefined":
      return (v) => v === undefined;
    case "unknown":
    case "any":
      return () => true;
    case "literal": {
      const values = new Set(def.values as readonly unknown[]);
      return (v) => values.has(v);
    }
    case "enum": {
      const values = new Set(Object.values(def.entries as Record<string, unknown>));
      return (v) => values.has(v);
    }
    case "optional": {
      const inner = compile(def.innerType);
      return (v) => v === undefined || inner(v);
    }
    case "nullable": {
      const inner = compile(def.innerType);
      return (v) => v === null || inner(v);
    }
    case "array": {
      const element = compile(def.element);
      return (v) => {
        if (!Array.isArray(v)) return false;
        for (const item of v) if (!element(item)) return false;
        return true;
      };
    }
    case "map": {
      const key = compile(def.keyType);
      const value = compile(def.valueType);
      return (v) => {
        if (!(v instanceof Map)) return false;
        for (const [k, item] of v) if (!key(k) || !value(item)) return false;
        return true;
      };
    }
    case "object":
      return compileObject(def);
    case "union":
      return compileUnion(def);
    default:
      throw new Unsupported(def.type);
  }
}

function compileObject(def: Def): FastValidator {
  if (def.catchall !== undefined) throw new Unsupported("object catchall");
  const shape = def.shape as Record<string, unknown>;
  const fields = Object.entries(shape).map(([key, schema]) => ({ key, check: compile(schema) }));
  const known = new Set(fields.map((f) => f.key));
  const count = fields.length;
  return (v) => {
    if (typeof v !== "object" || v === null) return false;
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) return false;
    const record = v as Record<string, unknown>;
    for (const { key, check } of fields) if (!check(record[key])) return false;
    // Keys zod would strip: let zod produce the stripped copy.
    let keys = 0;
    for (const key in record) {
      if (!known.has(key)) return false;
      keys++;
    }
    return keys <= count;
  };
}

function compileUnion(def: Def): FastValidator {
  const options = (def.options as readonly unknown[]).map(compile);
  const discriminator = def.discriminator as string | undefined;
  if (discriminator === undefined) {
    return (v) => options.some((option) => option(v));
  }
  // A discriminated union: the discriminator's literal picks the one option to check.
  const byTag = new Map<unknown, FastValidator>();
  (def.options as readonly { _zod: { def: Def } }[]).forEach((option, i) => {
    const tag = (option._zod.def.shape as Record<string, { _zod: { def: Def } }> | undefined)?.[
      discriminator
    ];
    if (tag?._zod.def.type !== "literal") throw new Unsupported("discriminator is not a literal");
    for (const value of tag._zod.def.values as readonly unknown[]) byTag.set(value, options[i]!);
  });
  return (v) => {
    if (typeof v !== "object" || v === null) return false;
    const option = byTag.get((v as Record<string, unknown>)[discriminator]);
    return option?.(v) === true;
  };
}

function compileCheck(def: CheckDef): FastValidator {
  // A check's `when` guard only ever skips it; applying it always can only refuse more,
  // and a refusal just sends the value to zod.
  switch (def.check) {
    case "min_length": {
      const min = def.minimum as number;
      return (v) => (v as { length: number }).length >= min;
    }
    case "max_length": {
      const max = def.maximum as number;
      return (v) => (v as { length: number }).length <= max;
    }
    case "length_equals": {
      const length = def.length as number;
      return (v) => (v as { length: number }).length === length;
    }
    case "greater_than": {
      const bound = def.value as number | bigint;
      return def.inclusive ? (v) => (v as number) >= bound : (v) => (v as number) > bound;
    }
    case "less_than": {
      const bound = def.value as number | bigint;
      return def.inclusive ? (v) => (v as number) <= bound : (v) => (v as number) < bound;
    }
    case "number_format":
      if (def.format === "safeint") return (v) => Number.isSafeInteger(v);
      throw new Unsupported(`number format ${String(def.format)}`);
    case "string_format": {
      if (def.format !== "regex" || !(def.pattern instanceof RegExp)) {
        throw new Unsupported(`string format ${String(def.format)}`);
      }
      const pattern = def.pattern;
      return (v) => {
        pattern.lastIndex = 0;
        return pattern.test(v as string);
      };
    }
    default:
      throw new Unsupported(`check ${def.check}`);
  }
}
