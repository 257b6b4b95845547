/**
 * The base of every flowstore error: a `code` a caller can switch on, a message a person can
 * read, and an optional `cause`. Each package has one subclass with its own codes.
 *
 * @example
 * class FlowStoreError extends CodedError<"NOT_MASTER" | "TIMEOUT"> {
 *   override readonly name = "FlowStoreError";
 * }
 * if (FlowStoreError.is(error, "TIMEOUT")) retry();
 */
export abstract class CodedError<C extends string> extends Error {
  readonly code: C;

  constructor(code: C, message: string, options: { readonly cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }

  /**
   * Whether `error` is an instance of the class this is called on (with `code`, when given):
   * a type guard, not a cast — `MessagingError.is(error, "TIMEOUT")`.
   */
  static is<T extends CodedError<string>>(
    this: abstract new (
      ...args: never[]
    ) => T,
    error: unknown,
    code?: T["code"],
  ): error is T {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the subclass it is called on
    return error instanceof this && (code === undefined || (error as T).code === code);
  }
}

/** The message of anything thrown: an `Error`'s message, or the value as text. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
