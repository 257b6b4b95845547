import type { NodeId } from "../../cluster.js";

/** Under the prefix: `n/<node>` — a live node, under its lease, value = lease id. */
const NODES = "n/";
/** Under the prefix: `c/<key>/<node>` — a candidacy, under the node's lease. */
const CANDIDATES = "c/";
/** Under the prefix: `a/<key>` — the newest activated term of the key. */
const ACTIVATIONS = "a/";

/** What an etcd key under the prefix stands for; see {@link EtcdKeyLayout}. */
export type EtcdKeyPath<K extends string> =
  | { readonly kind: "node"; readonly node: NodeId }
  | { readonly kind: "candidate"; readonly key: K; readonly node: NodeId }
  | { readonly kind: "activation"; readonly key: K };

/**
 * The etcd key layout of mastership: every key the etcd backend writes or reads is built
 * and parsed here.
 *
 * @remarks Under `prefix`: `n/<node>` (the node, under its lease, value = lease id),
 * `c/<key>/<node>` (a candidacy, under the lease; its create revision orders the key's
 * candidates), `a/<key>` (the newest activated term). A candidacy's node is what follows the
 * last `/`: keys may contain `/`, node ids cannot (`nodeId` allows none).
 */
export interface EtcdKeyLayout<K extends string> {
  /** The prefix, ending in `/`. */
  readonly prefix: string;
  /** `<prefix>n/<node>`. */
  node(node: NodeId): string;
  /** `<prefix>c/<key>/<node>`. */
  candidate(key: K, node: NodeId): string;
  /** `<prefix>a/<key>`. */
  activation(key: K): string;
  /** What `key` stands for; `undefined` for a key outside the layout. */
  parse(key: string): EtcdKeyPath<K> | undefined;
  /** The range of every key under the prefix, for an etcd range request. */
  range(): { readonly key: Buffer; readonly range_end: Buffer };
}

/** The key layout under `prefix` (a `/` is appended when it does not end in one). */
export function createEtcdKeyLayout<K extends string>(prefix: string): EtcdKeyLayout<K> {
  const root = prefix.endsWith("/") ? prefix : `${prefix}/`;
  return {
    prefix: root,
    node: (node) => `${root}${NODES}${node}`,
    candidate: (key, node) => `${root}${CANDIDATES}${key}/${node}`,
    activation: (key) => `${root}${ACTIVATIONS}${key}`,
    parse(full) {
      if (!full.startsWith(root)) return undefined;
      const path = full.slice(root.length);
      if (path.startsWith(CANDIDATES)) {
        const rest = path.slice(CANDIDATES.length);
        const slash = rest.lastIndexOf("/");
        if (slash <= 0) return undefined;
        return {
          kind: "candidate",
          key: rest.slice(0, slash) as K,
          node: rest.slice(slash + 1) as NodeId,
        };
      }
      if (path.startsWith(NODES)) return { kind: "node", node: path.slice(NODES.length) as NodeId };
      if (path.startsWith(ACTIVATIONS))
        return { kind: "activation", key: path.slice(ACTIVATIONS.length) as K };
      return undefined;
    },
    range() {
      const key = Buffer.from(root);
      return { key, range_end: prefixEnd(key) };
    },
  };
}

/** The smallest key greater than every key starting with `prefix`. */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    const byte = end[i] as number;
    if (byte < 0xff) {
      end[i] = byte + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}
