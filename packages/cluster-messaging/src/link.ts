import type { ReplyStatus } from "./frame.js";
import type { NodeId } from "./node.js";

/**
 * One open path to a peer, as a transport offers it to the messaging layer: a TCP
 * connection, a simulated link of the in-memory network, or the in-process loopback.
 */
export interface Link {
  /** The node at the other end. */
  readonly peer: NodeId;
  oneWay(subject: string, payload: Uint8Array): void;
  request(id: number, subject: string, payload: Uint8Array): void;
  reply(id: number, status: ReplyStatus, payload: Uint8Array): void;
  heartbeat(): void;
}

/** What a transport reports to the node that owns it. */
export interface LinkHandler {
  oneWay(link: Link, subject: string, payload: Uint8Array): void;
  /** A request; its reply goes back on the same `link`. */
  request(link: Link, id: number, subject: string, payload: Uint8Array): void;
  reply(link: Link, id: number, status: ReplyStatus, payload: Uint8Array): void;
  heartbeat(link: Link): void;
  /** `link` is gone: no reply to a request sent on it will come. */
  linkDown(link: Link): void;
  /**
   * A connection to `peer` was refused: nothing listens at its address, so its process is
   * gone (or not started yet). Transports that cannot tell do not call it.
   */
  refused(peer: NodeId): void;
}

/**
 * How a node reaches its peers. Implemented over TCP ({@link createTcpCluster}) and in
 * memory ({@link createMemoryNetwork}); the messaging and membership logic above it is the
 * same for both.
 */
export interface Transport {
  /** Starts accepting and opening links; inbound traffic goes to `handler`. */
  start(handler: LinkHandler): Promise<void>;
  /** The open link to `peer`, or `undefined` while there is none. */
  link(peer: NodeId): Link | undefined;
  /** Closes every link and releases every socket and timer. */
  close(): Promise<void>;
}
