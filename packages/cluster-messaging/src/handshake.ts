import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { createSerializer, DecodeError } from "@flowstore/serializers";
import { z } from "zod";
import type { NodeId } from "./node.js";
import { NodeIdSchema } from "./node.js";

/** The version of the wire protocol; peers with another version refuse each other. */
export const PROTOCOL_VERSION = 1;

/**
 * Schema of the first frame on every connection, sent by both ends.
 *
 * @remarks The connecting side sends its hello with a fresh nonce; the accepting side checks
 * it and answers with its own hello, whose `proof` is an HMAC of the connector's nonce under
 * the shared cluster secret; the connector checks that and answers with an AUTH frame whose
 * proof covers the acceptor's nonce. The secret itself never crosses the wire, and a proof
 * cannot be replayed on another connection. Without a secret, proofs are empty.
 */
export const HelloSchema = z.object({
  version: z.number().int().nonnegative(),
  cluster: z.string().max(64),
  node: NodeIdSchema,
  fingerprint: z.string().max(128),
  nonce: bytes(),
  proof: bytes(),
});

function bytes() {
  return z.custom<Uint8Array>((value) => value instanceof Uint8Array, "expected bytes");
}

/** The first frame of a connection. */
export type Hello = z.output<typeof HelloSchema>;

const helloSerializer = createSerializer("Hello", HelloSchema);

/** What a node says about itself in its hello, and what it requires of its peers. */
export interface HandshakeIdentity {
  readonly node: NodeId;
  readonly clusterHash: string;
  /** The serializer namespace fingerprint the node was configured with. */
  readonly fingerprint: string;
  /** Shared secret of the cluster; peers must prove they know the same one. */
  readonly secret: string | undefined;
  readonly version: number;
}

/** A 16-hex-digit hash of a cluster name (the name itself is not sent). */
export function clusterNameHash(name: string): string {
  return createHash("sha256").update(`flowstore-cluster:${name}`).digest("hex").slice(0, 16);
}

/** A fresh nonce for one connection's hello. */
export function newNonce(): Uint8Array {
  return randomBytes(16);
}

/** The hello bytes of `identity`, with `nonce` and `proof`. */
export function encodeHello(
  identity: HandshakeIdentity,
  nonce: Uint8Array,
  proof: Uint8Array,
): Uint8Array {
  return helloSerializer.encode({
    version: identity.version,
    cluster: identity.clusterHash,
    node: identity.node,
    fingerprint: identity.fingerprint,
    nonce,
    proof,
  });
}

/** The hello in `bytes`, or a reason why it is not one. */
export function decodeHello(bytes: Uint8Array): Hello | string {
  try {
    return helloSerializer.decode(bytes);
  } catch (error) {
    if (error instanceof DecodeError) return `malformed hello: ${error.message}`;
    throw error;
  }
}

/**
 * Why `local` refuses to talk to the sender of `remote`, or `undefined` if it accepts.
 * `expected` is the node the local end dialled (undefined on the accepting side).
 */
export function checkHello(
  local: HandshakeIdentity,
  remote: Hello,
  members: ReadonlySet<string>,
  expected: NodeId | undefined,
): string | undefined {
  if (remote.version !== local.version) {
    return `protocol version ${remote.version}, expected ${local.version}`;
  }
  if (remote.cluster !== local.clusterHash) {
    return `cluster name hash ${remote.cluster}, expected ${local.clusterHash} (another cluster)`;
  }
  if (remote.node === local.node) return `peer claims the local node id ${remote.node}`;
  if (!members.has(remote.node)) return `node ${remote.node} is not in the cluster configuration`;
  if (expected !== undefined && remote.node !== expected) {
    return `dialled ${expected} but ${remote.node} answered`;
  }
  if (remote.fingerprint !== local.fingerprint) {
    return `serializer namespace fingerprint ${remote.fingerprint}, expected ${local.fingerprint}`;
  }
  return undefined;
}

/** The proof that the sender knows the cluster secret, bound to the peer's nonce. */
export function proofOf(
  secret: string | undefined,
  role: "accept" | "connect",
  peerNonce: Uint8Array,
  sender: NodeId,
): Uint8Array {
  if (secret === undefined) return new Uint8Array(0);
  return createHmac("sha256", secret).update(role).update(peerNonce).update(sender).digest();
}

/** Whether `proof` is what a peer knowing `secret` would have sent. */
export function proofMatches(
  secret: string | undefined,
  role: "accept" | "connect",
  ownNonce: Uint8Array,
  sender: NodeId,
  proof: Uint8Array,
): boolean {
  const expected = proofOf(secret, role, ownNonce, sender);
  if (expected.length !== proof.length) return false;
  return expected.length === 0 || timingSafeEqual(expected, proof);
}
