// One behavioural suite that every Mastership backend must pass.
import { afterEach, describe, expect, it } from "vitest";
import type { NodeId } from "../cluster.js";
import type { Mastership, MastershipEvent, ReplicaInfo, TermActivation } from "../mastership.js";

/** A running cluster of mastership views, one per node, as a backend's test sets it up. */
export interface ClusterUnderTest {
  readonly nodes: readonly NodeId[];
  view(node: NodeId): Mastership<string>;
  /** `node` dies without a goodbye (the embedded backend hears it from membership). */
  crash(node: NodeId): Promise<void>;
  /** A crashed `node` comes back (a new process: it must ask for its keys again). */
  restart(node: NodeId): Promise<void>;
  /** The clock the backend's views run on (their `leaseFreshUntil` is on it). */
  now(): number;
  /** Lets (virtual or real) time pass until `check` stops throwing, or throws its error. */
  eventually(check: () => void): Promise<void>;
  close(): Promise<void>;
}

/** How a backend starts a cluster for the suite. */
export interface MastershipBackend {
  readonly name: string;
  start(nodeCount: number, options?: BackendOptions): Promise<ClusterUnderTest>;
}

/** Options the suite starts a backend with (unset: the backend test's defaults). */
export interface BackendOptions {
  readonly backupCount?: number;
  /** How long a returning node waits before balancing gives it masterships, in ms. */
  readonly rebalanceDelay?: number;
  /** At most this many balancing moves per `moveInterval` ms (by one giving node). */
  readonly maxMoves?: number;
  readonly moveInterval?: number;
}

const keysNamed = (count: number): string[] =>
  Array.from({ length: count }, (_, i) => `of:${i.toString(16).padStart(16, "0")}`);

function node(cluster: ClusterUnderTest, index: number): NodeId {
  const id = cluster.nodes[index];
  if (id === undefined) throw new Error(`no node #${index}`);
  return id;
}

function masterCounts(cluster: ClusterUnderTest, from: NodeId, nodes = cluster.nodes): number[] {
  return nodes.map((n) => cluster.view(from).mastersOf(n).length);
}

async function requestAll(
  cluster: ClusterUnderTest,
  keys: readonly string[],
  nodes = cluster.nodes,
) {
  for (const n of nodes) await Promise.all(keys.map((key) => cluster.view(n).requestRoleFor(key)));
}

/** Registers the shared behavioural tests for `backend`. */
export function describeMastershipBehaviour(backend: MastershipBackend): void {
  describe(`${backend.name}: shared mastership behaviour`, () => {
    let cluster: ClusterUnderTest | undefined;
    afterEach(async () => {
      await cluster?.close();
      cluster = undefined;
    });

    it("gives every key one master among its candidates and orders the rest as backups, the same on every node", async () => {
      cluster = await backend.start(3);
      const c = cluster;
      const keys = keysNamed(12);
      await requestAll(c, keys);
      await c.eventually(() => {
        for (const key of keys) {
          const infos = c.nodes.map((n) => c.view(n).mastership(key));
          for (const info of infos) expect(info).toEqual(infos[0]);
          const info = infos[0] as ReplicaInfo;
          expect(info.master).toBeDefined();
          expect(info.term).toBeGreaterThan(0);
          expect([info.master, ...info.backups].sort()).toEqual([...c.nodes].sort());
          for (const n of c.nodes) {
            expect(c.view(n).role(key)).toBe(n === info.master ? "MASTER" : "STANDBY");
          }
        }
      });
      expect([...c.view(node(c, 1)).keys()].sort()).toEqual([...keys].sort());
    });

    it("makes a lone candidate master and reports a second candidate as its backup", async () => {
      cluster = await backend.start(2);
      const c = cluster;
      const [a, b] = [node(c, 0), node(c, 1)];
      const key = "of:00000000000000aa";
      const seen: MastershipEvent<string>[] = [];
      c.view(b).events$.subscribe((event) => {
        if (event.key === key) seen.push(event);
      });
      expect(c.view(a).mastership(key)).toEqual({ term: 0, master: undefined, backups: [] });
      await c.view(a).requestRoleFor(key);
      await c.eventually(() => expect(c.view(b).mastership(key).master).toBe(a));
      const first = c.view(b).mastership(key);
      expect(first.backups).toEqual([]);
      await c.view(b).requestRoleFor(key);
      const expected = { term: first.term, master: a, backups: [b] };
      await c.eventually(() => {
        expect(c.view(a).mastership(key)).toEqual(expected);
        expect(c.view(b).mastership(key)).toEqual(expected);
      });
      expect(seen).toEqual([
        { type: "MASTER_CHANGED", key, info: first },
        { type: "BACKUPS_CHANGED", key, info: expected },
      ]);
      expect(c.view(a).role(key)).toBe("MASTER");
      expect(c.view(b).role(key)).toBe("STANDBY");
    });

    it("raises the term whenever the master changes and never lowers it", async () => {
      cluster = await backend.start(3);
      const c = cluster;
      const [a, b, d] = [node(c, 0), node(c, 1), node(c, 2)];
      const key = "of:00000000000000bb";
      const seen: ReplicaInfo[] = [];
      c.view(d)
        .info$(key)
        .subscribe((info) => seen.push(info));
      for (const n of [a, b, d]) await c.view(n).requestRoleFor(key);
      await c.eventually(() => expect(c.view(d).mastership(key).backups).toHaveLength(2));
      const start = c.view(d).mastership(key);
      const masterBefore = start.master as NodeId;
      // The master steps down: its first backup takes over in a new term.
      await c.view(masterBefore).relinquish(key);
      await c.eventually(() => expect(c.view(d).mastership(key).master).toBe(start.backups[0]));
      const second = c.view(d).mastership(key);
      expect(second.term).toBeGreaterThan(start.term);
      expect(second.backups).not.toContain(masterBefore);
      // It asks again and comes back as the last backup, without changing the term.
      await c.view(masterBefore).requestRoleFor(key);
      await c.eventually(() => expect(c.view(d).mastership(key).backups).toHaveLength(2));
      expect(c.view(d).mastership(key)).toEqual({
        term: second.term,
        master: second.master,
        backups: [...second.backups, masterBefore],
      });
      const terms = seen.map((info) => info.term);
      expect(terms).toEqual([...terms].sort((x, y) => x - y));
      for (let i = 1; i < seen.length; i++) {
        const prev = seen[i - 1] as ReplicaInfo;
        const next = seen[i] as ReplicaInfo;
        if (next.master !== prev.master && next.master !== undefined)
          expect(next.term).toBeGreaterThan(prev.term);
        if (next.master === prev.master) expect(next.term).toBe(prev.term);
      }
    });

    it("activates only the current term, only by its master, and tells every node", async () => {
      cluster = await backend.start(2);
      const c = cluster;
      const [a, b] = [node(c, 0), node(c, 1)];
      const key = "of:00000000000000cc";
      await c.view(a).requestRoleFor(key);
      await c.eventually(() => expect(c.view(a).mastership(key).master).toBe(a));
      await c.view(b).requestRoleFor(key);
      await c.eventually(() => expect(c.view(b).mastership(key).backups).toEqual([b]));
      const { term } = c.view(a).mastership(key);
      const seen: TermActivation<string>[] = [];
      c.view(b).activations$.subscribe((activation) => seen.push(activation));
      expect(await c.view(b).activate(key, term)).toBe(false);
      expect(await c.view(a).activate(key, term + 1)).toBe(false);
      expect(await c.view(a).activate(key, term - 1)).toBe(false);
      expect(c.view(a).activeTerm(key)).toBeUndefined();
      expect(await c.view(a).activate(key, term)).toBe(true);
      await c.eventually(() => {
        expect(seen).toEqual([{ key, term }]);
        expect(c.view(b).activeTerm(key)).toBe(term);
        expect(c.view(a).activeTerm(key)).toBe(term);
      });
      // After a change of master the old term is stale, the new one can be activated.
      await c.view(a).relinquish(key);
      await c.eventually(() => {
        expect(c.view(a).mastership(key).master).toBe(b);
        expect(c.view(b).mastership(key).master).toBe(b);
      });
      const next = c.view(b).mastership(key).term;
      expect(next).toBeGreaterThan(term);
      expect(await c.view(a).activate(key, term)).toBe(false);
      expect(await c.view(b).activate(key, term)).toBe(false);
      expect(await c.view(b).activate(key, next)).toBe(true);
      await c.eventually(() => {
        expect(seen).toEqual([
          { key, term },
          { key, term: next },
        ]);
        expect(c.view(a).activeTerm(key)).toBe(next);
      });
    });

    it("streams one key's active terms: the current one at once, then only that key's activations", async () => {
      cluster = await backend.start(1);
      const c = cluster;
      const a = node(c, 0);
      const [key, other] = keysNamed(2) as [string, string];
      await requestAll(c, [key, other]);
      await c.eventually(() => {
        expect(c.view(a).mastership(key).master).toBe(a);
        expect(c.view(a).mastership(other).master).toBe(a);
      });
      const seenBefore: number[] = [];
      c.view(a)
        .activeTerm$(key)
        .subscribe((term) => seenBefore.push(term));
      expect(seenBefore).toEqual([]); // no term of `key` is active yet
      const term = c.view(a).mastership(key).term;
      expect(await c.view(a).activate(other, c.view(a).mastership(other).term)).toBe(true);
      expect(await c.view(a).activate(key, term)).toBe(true);
      await c.eventually(() => expect(seenBefore).toEqual([term]));
      // A late subscriber starts from the active term; another key's activation reaches neither.
      const seenLate: number[] = [];
      const late = c
        .view(a)
        .activeTerm$(key)
        .subscribe((term) => seenLate.push(term));
      expect(seenLate).toEqual([term]);
      late.unsubscribe();
      const otherTerm = c.view(a).mastership(other).term;
      expect(await c.view(a).activate(other, otherTerm)).toBe(true);
      await c.view(a).relinquish(key);
      await c.view(a).requestRoleFor(key);
      await c.eventually(() => expect(c.view(a).mastership(key).term).toBeGreaterThan(term));
      const next = c.view(a).mastership(key).term;
      expect(await c.view(a).activate(key, next)).toBe(true);
      await c.eventually(() => expect(seenBefore).toEqual([term, next]));
      expect(seenLate).toEqual([term]);
    });

    it("holds every live node's lease fresh while time passes, and no longer once it crashed or left", async () => {
      cluster = await backend.start(3);
      const c = cluster;
      const [a, b, d] = [node(c, 0), node(c, 1), node(c, 2)];
      await requestAll(c, keysNamed(3));
      const start = c.now();
      // Past any lease TTL the backends use: keep-alives (if any) must keep it fresh.
      let checks = 0;
      await c.eventually(() => {
        for (const n of c.nodes) expect(c.view(n).leaseFreshUntil()).toBeGreaterThan(c.now());
        checks++;
        expect(c.now() - start).toBeGreaterThan(3000);
      });
      expect(checks).toBeGreaterThan(1);
      await c.crash(a);
      expect(c.view(a).leaseFreshUntil()).toBeLessThanOrEqual(c.now());
      const left = c.view(d);
      await left.close();
      expect(left.leaseFreshUntil()).toBeLessThanOrEqual(c.now());
      expect(c.view(b).leaseFreshUntil()).toBeGreaterThan(c.now());
    });

    it("gives a returning node masterships back only once it has been up for rebalanceDelay", async () => {
      cluster = await backend.start(3, { rebalanceDelay: 1500 });
      const c = cluster;
      const [a, b, d] = [node(c, 0), node(c, 1), node(c, 2)];
      const keys = keysNamed(12);
      await requestAll(c, keys);
      await c.eventually(() => expect(masterCounts(c, b)).toEqual([4, 4, 4]));
      await c.crash(a);
      await c.eventually(() => {
        for (const n of [b, d]) expect(c.view(n).mastersOf(a)).toEqual([]);
      });
      await c.restart(a);
      const back = c.now();
      let firstMastership: number | undefined;
      c.view(b).events$.subscribe((event) => {
        if (event.info.master === a) firstMastership ??= c.now();
      });
      await Promise.all(keys.map((key) => c.view(a).requestRoleFor(key)));
      await c.eventually(() => {
        const counts = masterCounts(c, b);
        expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
      });
      // Not one key went back before the delay (less a little for when b saw a come up).
      expect(firstMastership).toBeDefined();
      expect((firstMastership as number) - back).toBeGreaterThanOrEqual(1500 - 200);
    });

    it("moves at most maxMoves masterships per moveInterval while balancing", async () => {
      cluster = await backend.start(3, { maxMoves: 2, moveInterval: 1000 });
      const c = cluster;
      const [a, b, d] = [node(c, 0), node(c, 1), node(c, 2)];
      const keys = keysNamed(12);
      await Promise.all(keys.map((key) => c.view(a).requestRoleFor(key)));
      await c.eventually(() => expect(c.view(b).mastersOf(a)).toHaveLength(12));
      // When each key left a, as b sees it.
      const given: number[] = [];
      const masters = new Map(keys.map((key) => [key, c.view(b).mastership(key).master]));
      c.view(b).events$.subscribe((event) => {
        if (event.type !== "MASTER_CHANGED") return;
        if (masters.get(event.key) === a && event.info.master !== a) given.push(c.now());
        masters.set(event.key, event.info.master);
      });
      await requestAll(c, keys, [b, d]);
      await c.eventually(() => expect(masterCounts(c, b)).toEqual([4, 4, 4]));
      expect(given.length).toBeGreaterThanOrEqual(8);
      // Any stretch shorter than the interval (less slack for when b saw them) holds ≤ 2.
      for (const start of given) {
        expect(given.filter((at) => at >= start && at < start + 800).length).toBeLessThanOrEqual(2);
      }
    });

    it("balances masters to within one per node, even when one node asked for everything first", async () => {
      cluster = await backend.start(3);
      const c = cluster;
      const keys = keysNamed(31);
      await requestAll(c, keys);
      await c.eventually(() => {
        for (const from of c.nodes) {
          const counts = masterCounts(c, from);
          expect(counts.reduce((x, y) => x + y, 0)).toBe(keys.length);
          expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
        }
      });
    });

    it("balances over five nodes with two backups each, down to the nodes that asked last", async () => {
      cluster = await backend.start(5, { backupCount: 2 });
      const c = cluster;
      const keys = keysNamed(40);
      await requestAll(c, keys);
      await c.eventually(() => {
        for (const from of c.nodes) {
          const counts = masterCounts(c, from);
          expect(counts.reduce((x, y) => x + y, 0)).toBe(keys.length);
          expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
        }
      });
    });

    it("fails a dead node's keys over to their first backup in a higher term, and rebalances the rest", async () => {
      cluster = await backend.start(3, { backupCount: 1 });
      const c = cluster;
      const [dead, b, d] = [node(c, 0), node(c, 1), node(c, 2)];
      const keys = keysNamed(12);
      await requestAll(c, keys);
      await c.eventually(() => expect(masterCounts(c, b)).toEqual([4, 4, 4]));
      const before = new Map(keys.map((key) => [key, c.view(b).mastership(key)]));
      for (const info of before.values()) expect(info.backups).toHaveLength(1);
      const firstNewMaster = new Map<string, ReplicaInfo>();
      c.view(d).events$.subscribe((event) => {
        if (event.type === "MASTER_CHANGED" && !firstNewMaster.has(event.key))
          firstNewMaster.set(event.key, event.info);
      });
      await c.crash(dead);
      const orphans = keys.filter((key) => before.get(key)?.master === dead);
      expect(orphans).toHaveLength(4);
      await c.eventually(() => {
        for (const key of keys) {
          for (const n of [b, d]) {
            const info = c.view(n).mastership(key);
            expect(info.master === b || info.master === d).toBe(true);
            expect(info.backups).not.toContain(dead);
          }
        }
      });
      for (const key of orphans) {
        const old = before.get(key) as ReplicaInfo;
        const taken = firstNewMaster.get(key);
        expect(taken?.master).toBe(old.backups[0]);
        expect(taken?.term).toBeGreaterThan(old.term);
      }
      await c.eventually(() => {
        const [x, y] = masterCounts(c, d, [b, d]) as [number, number];
        expect(x + y).toBe(12);
        expect(Math.abs(x - y)).toBeLessThanOrEqual(1);
      });
    });
  });
}
