import { CodedError } from "@flowstore/serializers";
import type { NodeId } from "./node.js";

/**
 * Why a message could not be delivered or answered.
 *
 * - `TIMEOUT`: no reply within the call's timeout (the peer may or may not have handled it).
 * - `NO_HANDLER`: the peer got the request but nothing serves that subject there.
 * - `HANDLER_ERROR`: the peer's handler threw or rejected; the message says what.
 * - `PROTOCOL_ERROR`: a payload failed validation (on either side) or a frame was malformed.
 * - `UNREACHABLE`: the node is not in the cluster, or there is no connection to it, or the
 *   connection was lost before the reply came.
 * - `CLOSED`: the local node is closed.
 * - `INVALID_ARGUMENT`: a call the API does not allow (a subject served twice, a node not in
 *   the cluster, a transport started twice): a bug of the caller's, nothing was sent.
 */
export type MessagingErrorCode =
  | "TIMEOUT"
  | "NO_HANDLER"
  | "HANDLER_ERROR"
  | "PROTOCOL_ERROR"
  | "UNREACHABLE"
  | "CLOSED"
  | "INVALID_ARGUMENT";

/**
 * The error every messaging call rejects with.
 *
 * @remarks `code` tells a refusal (`NO_HANDLER`, `HANDLER_ERROR`, `PROTOCOL_ERROR`: the peer
 * answered) from silence (`TIMEOUT`) and from a missing connection (`UNREACHABLE`), which a
 * caller usually handles differently: retry elsewhere, give up, or wait.
 */
export class MessagingError extends CodedError<MessagingErrorCode> {
  override readonly name = "MessagingError";
  /** The node the message was for, when there was one. */
  readonly node: NodeId | undefined;
  /** The message's subject, when there was one. */
  readonly subject: string | undefined;

  constructor(
    code: MessagingErrorCode,
    message: string,
    options: { node?: NodeId; subject?: string; cause?: unknown } = {},
  ) {
    super(code, message, { cause: options.cause });
    this.node = options.node;
    this.subject = options.subject;
  }
}
