import { CodedError, formatPath } from "@flowstore/serializers";
import type { z } from "zod";

/** Why a flow rule was refused. */
export type FlowRuleErrorCode =
  /** A required field is absent. */
  | "MISSING_FIELD"
  /** A criterion or instruction `type` (or `subtype`) flowstore does not know. */
  | "UNKNOWN_TYPE"
  /** A field is present but its value is wrong (type, range, format, duplicate criterion). */
  | "INVALID_FIELD";

/** One refused field: its path and what was wrong. */
export interface FlowRuleIssue {
  /** The path of the field, as `selector.criteria[0].ethType`. */
  readonly path: string;
  readonly message: string;
}

/**
 * A flow rule that cannot be built from the given input: the REST API turns it into a 400
 * naming {@link FlowRuleError.path}.
 *
 * @example
 * // FlowRuleError: selector.criteria[0].ethType: expected a decimal or 0x number
 */
export class FlowRuleError extends CodedError<FlowRuleErrorCode> {
  override readonly name = "FlowRuleError";
  /** Every refused field, first one first (never empty). */
  readonly issues: readonly FlowRuleIssue[];

  constructor(
    code: FlowRuleErrorCode,
    issues: readonly FlowRuleIssue[],
    options: { cause?: unknown } = {},
  ) {
    const first = issues[0] ?? { path: "", message: "invalid flow rule" };
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : "";
    super(code, `${first.path === "" ? "(root)" : first.path}: ${first.message}${more}`, {
      cause: options.cause,
    });
    this.issues = issues.length === 0 ? [first] : issues;
  }

  /** The path of the first refused field (`selector.criteria[0].ethType`; empty for the root). */
  get path(): string {
    return this.issues[0]?.path ?? "";
  }

  /**
   * The error for zod's issues, with the path of each and a code from the first (parse with
   * `reportInput: true` so that a missing field can be told from a mistyped one).
   */
  static fromZod(error: z.ZodError, prefix: readonly PropertyKey[] = []): FlowRuleError {
    const issues = error.issues.map((issue) => ({
      path: formatPath([...prefix, ...issue.path]),
      message: issue.message,
    }));
    return new FlowRuleError(codeOf(error.issues[0]), issues, { cause: error });
  }
}

function codeOf(issue: z.core.$ZodIssue | undefined): FlowRuleErrorCode {
  if (issue === undefined) return "INVALID_FIELD";
  // `input` is present when the schema was run with `reportInput: true`.
  if (issue.code === "invalid_type" && "input" in issue && issue.input === undefined) {
    return "MISSING_FIELD";
  }
  if (issue.code === "invalid_union" && "discriminator" in issue) return "UNKNOWN_TYPE";
  return "INVALID_FIELD";
}
