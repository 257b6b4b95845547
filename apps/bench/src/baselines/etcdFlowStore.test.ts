// Against a real etcd, started here on free loopback ports and stopped by its PID.
import { randomUUID } from "node:crypto";
import type { FlowRuleOperation } from "@flowstore/ec-flow-store";
import { deviceId, type FlowEntry, type FlowRule } from "@flowstore/flow-bucket";
import { type EtcdServer, startEtcd } from "@flowstore/mastership/etcd-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { benchDevice, benchRules } from "../workload.js";
import {
  createEtcdFlowStore,
  type EtcdFlowStore,
  EtcdFlowStoreError,
  type EtcdFlowStoreOptions,
} from "./etcdFlowStore.js";

let etcd: EtcdServer | undefined;
const open: EtcdFlowStore[] = [];

beforeAll(async () => {
  etcd = await startEtcd();
}, 30_000);

afterAll(async () => {
  for (const store of open) store.close();
  await etcd?.stop();
});

/** A store on the test's etcd, under a prefix of its own unless one is given. */
function store(options: Partial<EtcdFlowStoreOptions> = {}): EtcdFlowStore {
  if (etcd === undefined) throw new Error("etcd did not start (see the beforeAll error)");
  const created = createEtcdFlowStore({
    endpoints: [etcd.endpoint],
    prefix: `/test/${randomUUID()}`,
    now: () => 1_000,
    ...options,
  });
  open.push(created);
  return created;
}

const adds = (rules: readonly FlowRule[]): FlowRuleOperation[] =>
  rules.map((rule) => ({ operator: "ADD", rule }));

const ids = (entries: readonly FlowEntry[]): bigint[] =>
  entries.map((e) => e.rule.id as bigint).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

describe("EtcdFlowStore", () => {
  const d = benchDevice(1);

  it("stores a batch and reads every entry back as it was written", async () => {
    const s = store();
    const rules = benchRules(d, 50);
    const result = await s.storeBatch({ deviceId: d, operations: adds(rules) });
    expect(result).toMatchObject({ operations: 50, transactions: 1 });
    const entries = await s.getFlowEntries(d);
    expect(ids(entries)).toStrictEqual(ids(rules.map((rule) => ({ rule }) as FlowEntry)));
    const byId = new Map(entries.map((e) => [e.rule.id, e]));
    for (const rule of rules) {
      const entry = byId.get(rule.id);
      expect(entry?.rule).toStrictEqual(rule);
      expect(entry?.state).toBe("PENDING_ADD");
      expect(entry?.created).toBe(1_000);
    }
  });

  it("keeps devices apart, even one whose id extends another's", async () => {
    const s = store();
    const a = deviceId("dev:a");
    const b = deviceId("dev:a/b");
    await s.storeBatch({ deviceId: a, operations: adds(benchRules(a, 3)) });
    await s.storeBatch({ deviceId: b, operations: adds(benchRules(b, 5)) });
    expect(await s.getFlowEntries(a)).toHaveLength(3);
    expect(await s.getFlowEntries(b)).toHaveLength(5);
    expect(await s.getFlowEntries(benchDevice(99))).toStrictEqual([]);
  });

  it("removeFlowRule and a REMOVE operation delete the rule", async () => {
    const s = store();
    const [r0, r1, r2] = benchRules(d, 3) as [FlowRule, FlowRule, FlowRule];
    await s.storeBatch({ deviceId: d, operations: adds([r0, r1, r2]) });
    expect(await s.removeFlowRule(r0)).toBe(true);
    expect(await s.removeFlowRule(r0)).toBe(false);
    await s.storeBatch({ deviceId: d, operations: [{ operator: "REMOVE", rule: r1 }] });
    expect(ids(await s.getFlowEntries(d))).toStrictEqual([r2.id]);
  });

  it("splits a batch above 128 operations into transactions and stores all of it", async () => {
    const s = store({ concurrency: 3 });
    const rules = benchRules(d, 1000);
    const result = await s.storeBatch({ deviceId: d, operations: adds(rules) });
    expect(result).toMatchObject({ operations: 1000, transactions: 8 });
    expect(await s.getFlowEntries(d)).toHaveLength(1000);
  });

  it("keeps only the last operation on a rule that appears twice in a batch", async () => {
    const s = store();
    const [r0, r1] = benchRules(d, 2) as [FlowRule, FlowRule];
    const result = await s.storeBatch({
      deviceId: d,
      operations: [
        { operator: "ADD", rule: r0 },
        { operator: "ADD", rule: r1 },
        { operator: "REMOVE", rule: r0 },
      ],
    });
    expect(result.operations).toBe(2);
    expect(ids(await s.getFlowEntries(d))).toStrictEqual([r1.id]);
  });

  it("a new client (the next master) reads every flow, in pages", async () => {
    const prefix = `/test/${randomUUID()}`;
    const first = store({ prefix });
    const rules = benchRules(d, 700);
    await first.storeBatch({ deviceId: d, operations: adds(rules) });
    first.close();
    const next = store({ prefix, pageSize: 64 });
    const entries = await next.getFlowEntries(d);
    expect(entries).toHaveLength(700);
    expect(new Set(entries.map((e) => e.rule.id)).size).toBe(700);
  });

  it("rejects an operation on another device without writing anything", async () => {
    const s = store();
    const other = benchDevice(2);
    const operations = [...adds(benchRules(d, 200)), ...adds(benchRules(other, 1))];
    const error = await s.storeBatch({ deviceId: d, operations }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EtcdFlowStoreError);
    expect((error as EtcdFlowStoreError).code).toBe("INVALID_ARGUMENT");
    expect(await s.getFlowEntries(d)).toStrictEqual([]);
    expect(await s.getFlowEntries(other)).toStrictEqual([]);
  });

  it("rejects bad options and calls after close", async () => {
    expect(() => store({ txnOps: 129 })).toThrow(EtcdFlowStoreError);
    expect(() => store({ concurrency: 0 })).toThrow(EtcdFlowStoreError);
    const s = store();
    s.close();
    await expect(s.getFlowEntries(d)).rejects.toMatchObject({ code: "CLOSED" });
  });
});
