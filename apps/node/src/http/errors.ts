import type { FlowStoreErrorCode } from "@flowstore/ec-flow-store";
import { FlowStoreError } from "@flowstore/ec-flow-store";
import type { FlowRuleErrorCode } from "@flowstore/flow-bucket";
import { FlowRuleError } from "@flowstore/flow-bucket";
import { MastershipError, type MastershipErrorCode } from "@flowstore/mastership";

/** Why the REST API refused or failed a request. */
export type HttpErrorCode =
  /** The body is not what the route takes (not JSON, not an object, a missing array). */
  | "INVALID_BODY"
  /** A field of the body, the path or the query is wrong; `path` names it. */
  | "INVALID_FIELD"
  /** A required field is absent; `path` names it. */
  | "MISSING_FIELD"
  /** A criterion or instruction type flowstore does not know. */
  | "UNKNOWN_TYPE"
  /** No such device, flow table, node, application or route. */
  | "NOT_FOUND"
  /** The path exists, but not for this method. */
  | "METHOD_NOT_ALLOWED"
  /** No credentials, or wrong ones, while `--auth` is on. */
  | "UNAUTHORIZED"
  /** The body is larger than the limit. */
  | "BODY_TOO_LARGE"
  /** The cluster cannot answer for the device now (no master, master unreachable, deposed). */
  | "UNAVAILABLE"
  /** The device's master did not answer in time. */
  | "TIMEOUT"
  /** Too many writes are on their way already: nothing was stored; retry after `Retry-After`. */
  | "OVERLOADED"
  /** A bug: logged with its stack. */
  | "INTERNAL";

/** The HTTP status of each code; the compiler checks that every code has one. */
export const HTTP_STATUS: Readonly<Record<HttpErrorCode, number>> = {
  INVALID_BODY: 400,
  INVALID_FIELD: 400,
  MISSING_FIELD: 400,
  UNKNOWN_TYPE: 400,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  UNAUTHORIZED: 401,
  BODY_TOO_LARGE: 413,
  UNAVAILABLE: 503,
  TIMEOUT: 504,
  OVERLOADED: 503,
  INTERNAL: 500,
};

/** What each store failure is to a REST client. */
const FROM_STORE: Readonly<Record<FlowStoreErrorCode, HttpErrorCode>> = {
  NO_MASTER: "UNAVAILABLE",
  NOT_MASTER: "UNAVAILABLE",
  STALE_TERM: "UNAVAILABLE",
  UNAVAILABLE: "UNAVAILABLE",
  CLOSED: "UNAVAILABLE",
  TIMEOUT: "TIMEOUT",
  OVERLOADED: "OVERLOADED",
  UNDER_REPLICATED: "UNAVAILABLE",
  INVALID_ARGUMENT: "INVALID_FIELD",
  INVALID_CONFIG: "INVALID_FIELD",
};

/** What each refused flow rule is to a REST client. */
const FROM_RULE: Readonly<Record<FlowRuleErrorCode, HttpErrorCode>> = {
  MISSING_FIELD: "MISSING_FIELD",
  UNKNOWN_TYPE: "UNKNOWN_TYPE",
  INVALID_FIELD: "INVALID_FIELD",
};

/** What each mastership failure is to a REST client. */
const FROM_MASTERSHIP: Readonly<Record<MastershipErrorCode, HttpErrorCode>> = {
  CLOSED: "UNAVAILABLE",
  UNAVAILABLE: "UNAVAILABLE",
  INVALID_ARGUMENT: "INVALID_FIELD",
  TERM_REGRESSION: "UNAVAILABLE",
};

/** An error the REST API answers with `{code: <status>, message, path?}` (ONOS's error body). */
export class HttpError extends Error {
  override readonly name = "HttpError";
  readonly code: HttpErrorCode;
  /** The refused field, as `flows[3].selector.criteria[0].ethType`, when there is one. */
  readonly path: string | undefined;

  constructor(
    code: HttpErrorCode,
    message: string,
    options: { path?: string | undefined; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.code = code;
    this.path = options.path;
  }

  get status(): number {
    return HTTP_STATUS[this.code];
  }

  static is(error: unknown): error is HttpError {
    return error instanceof HttpError;
  }

  /** The HTTP error for anything a handler threw: the one conversion of the REST layer. */
  static from(error: unknown): HttpError {
    if (error instanceof HttpError) return error;
    if (error instanceof FlowRuleError) {
      return new HttpError(FROM_RULE[error.code], error.message, {
        path: error.path,
        cause: error,
      });
    }
    if (error instanceof FlowStoreError) {
      return new HttpError(FROM_STORE[error.code], error.message, { cause: error });
    }
    if (error instanceof MastershipError) {
      return new HttpError(FROM_MASTERSHIP[error.code], error.message, { cause: error });
    }
    return new HttpError("INTERNAL", String(error), { cause: error });
  }

  /** A refused rule at `prefix` (`flows[3]`) of a batch body. */
  static inBatch(error: unknown, prefix: string): unknown {
    if (!(error instanceof FlowRuleError)) return error;
    const path = error.path === "" ? prefix : `${prefix}.${error.path}`;
    return new HttpError(FROM_RULE[error.code], `${prefix}.${error.message}`, {
      path,
      cause: error,
    });
  }

  /** The JSON body: `code` is the HTTP status number, as ONOS answers. */
  toJSON(): { code: number; message: string; path?: string } {
    return {
      code: this.status,
      message: this.message,
      ...(this.path === undefined ? {} : { path: this.path }),
    };
  }
}

/** Throws a 404 naming `what` unless `value` is defined. */
export function found<T>(value: T | undefined | null, what: string): T {
  if (value === undefined || value === null)
    throw new HttpError("NOT_FOUND", `${what} is not found`);
  return value;
}
