import type { z } from "zod";
import { CodedError } from "./codedError.js";

/** Why a value could not be decoded. */
export type DecodeErrorCode =
  /** The bytes end before the value does. */
  | "TRUNCATED"
  /** The bytes are not a well-formed encoding (bad msgpack, trailing bytes, no type id). */
  | "MALFORMED"
  /** The type id is not registered in the namespace. */
  | "UNKNOWN_TYPE"
  /** The type id is registered, but not the type the caller asked for. */
  | "WRONG_TYPE"
  /** The decoded value does not satisfy the type's schema. */
  | "INVALID";

/** One failed check of a schema: where in the value, and what was wrong. */
export interface DecodeIssue {
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

/**
 * The only error a decoder throws: bytes that are truncated, malformed, of an unknown or
 * unexpected type, or that fail the type's schema.
 *
 * @remarks The message names the type and, for schema failures, the path of the first
 * failing field (`FlowEntry: priority: expected number`), so a log line is enough to find
 * the sender's bug. No partially decoded value ever escapes alongside it.
 */
export class DecodeError extends CodedError<DecodeErrorCode> {
  override readonly name = "DecodeError";
  /** The registered name of the type being decoded, when it is known. */
  readonly typeName: string | undefined;
  /** Schema failures, first one first; empty for byte-level failures. */
  readonly issues: readonly DecodeIssue[];

  constructor(
    code: DecodeErrorCode,
    message: string,
    options: { typeName?: string; issues?: readonly DecodeIssue[]; cause?: unknown } = {},
  ) {
    super(code, options.typeName === undefined ? message : `${options.typeName}: ${message}`, {
      cause: options.cause,
    });
    this.typeName = options.typeName;
    this.issues = options.issues ?? [];
  }

  /** The zod path of the first failing field, as `selector.criteria[2].ethType`. */
  get path(): string {
    const first = this.issues[0];
    return first === undefined ? "" : formatPath(first.path);
  }

  /** A schema failure from zod's issues. */
  static fromZod(typeName: string, error: z.ZodError): DecodeError {
    const issues = error.issues.map((issue) => ({ path: issue.path, message: issue.message }));
    const first = issues[0];
    const where =
      first === undefined || first.path.length === 0 ? "(root)" : formatPath(first.path);
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : "";
    return new DecodeError("INVALID", `${where}: ${first?.message ?? "invalid"}${more}`, {
      typeName,
      issues,
      cause: error,
    });
  }
}

/** `["selector", "criteria", 2, "ethType"]` → `selector.criteria[2].ethType`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out === "" ? String(key) : `.${String(key)}`;
  }
  return out;
}
