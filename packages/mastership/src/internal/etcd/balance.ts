import type { NodeId } from "../../cluster.js";
import type { ReplicaInfo } from "../../mastership.js";

/** What {@link planHandoffs} decides from: one view's picture of every key. */
export interface BalanceInput<K extends string> {
  /** The node that would hand keys off. */
  readonly me: NodeId;
  /** key → its candidates (node → create revision of its candidacy). */
  readonly candidates: ReadonlyMap<K, ReadonlyMap<NodeId, number>>;
  /** Full replica info per key: master and every standby, in order. */
  readonly infos: ReadonlyMap<K, ReplicaInfo>;
  /** node → the keys it masters. */
  readonly mastered: ReadonlyMap<NodeId, ReadonlySet<K>>;
  /** Whether balancing may hand `node` masterships yet (it has been up long enough). */
  readonly settled: (node: NodeId) => boolean;
  /**
   * Whether `key`'s current term is active (its master synchronized); such keys are handed
   * off first (default: all are).
   */
  readonly active?: (key: K) => boolean;
}

/**
 * The keys `me` should hand to their next candidate, by re-campaigning for them (delete + put
 * moves it to the back of the key's order).
 *
 * @remarks Only settled candidates (and `me`) take part. A key goes to its next candidate when
 * `me` masters at least two keys more than it. When no next candidate is that much less busy
 * but a node further back in a key's order is, the key goes to a next candidate no busier than
 * `me`, which passes it on — at most half the gap between `me` and the least busy node per
 * pass. Repeated passes by every node converge to counts within one. A pure function: the
 * etcd view calls it with its state and carries out the plan.
 */
export function planHandoffs<K extends string>(input: BalanceInput<K>): K[] {
  const { me, candidates: byKey, infos, mastered, settled } = input;
  // Keys whose term is active first: moving one whose master is still synchronizing (decoding
  // a table loaded from disk, pulling buckets) would throw that work away.
  const active = input.active ?? (() => true);
  const sorted = [...(mastered.get(me) ?? [])].sort();
  const mine = [...sorted.filter(active), ...sorted.filter((key) => !active(key))];
  const group = new Set<NodeId>();
  for (const candidates of byKey.values())
    for (const node of candidates.keys()) if (settled(node)) group.add(node);
  group.add(me);
  const planned = new Map<NodeId, number>();
  for (const node of group) planned.set(node, mastered.get(node)?.size ?? 0);
  const count = (node: NodeId | undefined): number =>
    node === undefined ? 0 : (planned.get(node) ?? 0);
  const give = (key: K, to: NodeId, out: K[]): void => {
    out.push(key);
    planned.set(me, count(me) - 1);
    planned.set(to, count(to) + 1);
  };
  const handoffs: K[] = [];
  for (const key of mine) {
    const next = infos.get(key)?.backups[0];
    if (next !== undefined && group.has(next) && count(me) - count(next) >= 2)
      give(key, next, handoffs);
  }
  if (handoffs.length > 0) return handoffs;
  // No next candidate is much less busy. If some node further back in a key's order is,
  // hand a few such keys to a next candidate no busier than us: it passes them on the same
  // way (each pass moves the giver to the back), so keys reach nodes deep in the order —
  // those that joined last, beyond the backups anyone sees.
  const least = Math.min(...[...group].map(count));
  let budget = Math.floor((count(me) - least) / 2);
  for (const key of mine) {
    if (budget <= 0) break;
    const [next, ...further] = infos.get(key)?.backups ?? [];
    if (next === undefined || !group.has(next) || count(next) > count(me)) continue;
    if (further.some((node) => group.has(node) && count(me) - count(node) >= 2)) {
      give(key, next, handoffs);
      budget--;
    }
  }
  return handoffs;
}
