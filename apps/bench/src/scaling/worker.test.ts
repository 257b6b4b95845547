import { randomUUID } from "node:crypto";
import { freePorts } from "@flowstore/cluster-messaging";
import { type EtcdServer, startEtcd } from "@flowstore/mastership/etcd-server";
import { afterAll, describe, expect, it } from "vitest";
import { benchDevice } from "../workload.js";
import {
  type ParentMessage,
  parseParentMessage,
  parseWorkerMessage,
  ScalingProtocolError,
  ScalingWorker,
  spawnWorker,
  type WorkerProcess,
  wallClock,
} from "./worker.js";

describe("the worker protocol", () => {
  it("parses the parent's messages and refuses malformed ones", () => {
    const prepare = {
      type: "prepare",
      devicesPerNode: 2,
      flowsPerDevice: 1500,
      ruleOffset: 0,
      batch: 1000,
    };
    expect(parseParentMessage(prepare)).toEqual(prepare);
    expect(parseParentMessage({ type: "go", at: 5 })).toEqual({ type: "go", at: 5 });
    for (const bad of [
      { ...prepare, batch: 0 },
      { type: "prepare", devicesPerNode: 2 },
      { type: "launch" },
      "go",
      null,
    ]) {
      expect(() => parseParentMessage(bad)).toThrow(ScalingProtocolError);
    }
    try {
      parseParentMessage({ ...prepare, flowsPerDevice: -1 });
      expect.unreachable();
    } catch (error) {
      expect(error).toMatchObject({ code: "INVALID_MESSAGE" });
      expect(String(error)).toContain("flowsPerDevice");
    }
  });

  it("parses the workers' replies", () => {
    const written = {
      type: "written",
      flows: 10,
      start: 1.5,
      end: 2.5,
      moved: [],
      inactive: [],
    };
    expect(parseWorkerMessage(written)).toEqual(written);
    expect(() => parseWorkerMessage({ type: "written", flows: 10 })).toThrow(ScalingProtocolError);
  });

  it("answers a round or a count before start as a failure, not a crash", async () => {
    const worker = new ScalingWorker();
    for (const message of [
      { type: "prepare", devicesPerNode: 1, flowsPerDevice: 1, ruleOffset: 0, batch: 1 },
      { type: "campaign" },
      { type: "go", at: 0 },
      { type: "count", devices: ["of:0000000000000001"] },
    ] satisfies ParentMessage[]) {
      const reply = await worker.handle(message);
      expect(reply).toMatchObject({ type: "failed" });
      expect(reply.type === "failed" && reply.message).toContain("not been started");
    }
    expect(await worker.handle({ type: "stop" })).toEqual({ type: "stopped" });
  });
});

describe("two worker processes with etcd", () => {
  let etcd: EtcdServer | undefined;
  const workers: WorkerProcess[] = [];
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.kill()));
    await etcd?.stop();
  });

  it("a round writes every flow on each master and they reach the other node, its backup", async () => {
    etcd = await startEtcd();
    const ports = await freePorts(2);
    const nodes = ports.map((port, i) => ({ id: `n${i + 1}`, host: "127.0.0.1", port }));
    // Two devices per node per round, plus a spare pair: the balancer may leave shares uneven.
    const devices = Array.from({ length: 8 }, (_, i) => benchDevice(0x7e57_0000 + i));
    workers.push(spawnWorker(), spawnWorker());
    const prefix = `/write-scaling-test/${randomUUID()}/`;
    await Promise.all(
      workers.map((w, i) =>
        w.request(
          {
            type: "start",
            node: nodes[i]!.id,
            nodes,
            etcd: [etcd!.endpoint],
            prefix,
            devices,
            preferred: devices.filter((_, j) => j % 2 === i),
            backupCount: 1,
            minShare: 2,
            leaseTtl: 5,
            store: { backupPeriod: 100, antiEntropyPeriod: 5000, requestTimeout: 10_000 },
            settleTimeoutMs: 30_000,
            quietMs: 300,
          },
          "started",
          45_000,
        ),
      ),
    );
    const ready = await Promise.all(
      workers.map((w) => w.request({ type: "campaign" }, "ready", 45_000)),
    );
    // Every device has exactly one master: the node that campaigned for it first.
    expect(ready.flatMap((r) => r.mastered).sort()).toEqual([...devices].sort());
    expect(ready[0]!.mastered).toEqual(devices.filter((_, j) => j % 2 === 0).sort());
    expect(ready.map((r) => r.node)).toEqual(["n1", "n2"]);

    const prepared = await Promise.all(
      workers.map((w) =>
        w.request(
          { type: "prepare", devicesPerNode: 2, flowsPerDevice: 1500, ruleOffset: 0, batch: 1000 },
          "prepared",
          30_000,
        ),
      ),
    );
    for (const [i, p] of prepared.entries()) {
      expect(p.flows).toBe(3000);
      expect(ready[i]!.mastered).toEqual(expect.arrayContaining(p.devices));
    }
    const written = await Promise.all(
      workers.map((w) => w.request({ type: "go", at: wallClock() + 20 }, "written", 30_000)),
    );
    for (const w of written) {
      expect(w).toMatchObject({ flows: 3000, moved: [], inactive: [] });
      expect(w.end).toBeGreaterThanOrEqual(w.start);
    }

    // n1's flows are readable on n2 (its backup), and n2's on n1.
    const held = async (worker: WorkerProcess, of: readonly string[]) =>
      (await worker.request({ type: "count", devices: [...of] }, "counted", 10_000)).flows;
    for (const [reader, writer] of [
      [1, 0],
      [0, 1],
    ] as const) {
      let flows = 0;
      const deadline = performance.now() + 20_000;
      while (flows !== 3000 && performance.now() < deadline) {
        flows = await held(workers[reader]!, prepared[writer]!.devices);
        if (flows !== 3000) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(flows).toBe(3000);
    }
    // The next round takes devices no round has written yet.
    const next = await workers[0]!.request(
      { type: "prepare", devicesPerNode: 2, flowsPerDevice: 10, ruleOffset: 1500, batch: 10 },
      "prepared",
      30_000,
    );
    expect(next.devices.some((d) => prepared[0]!.devices.includes(d))).toBe(false);
  }, 90_000);
});
