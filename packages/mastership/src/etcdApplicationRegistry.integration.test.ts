// Against a real etcd, started here on free loopback ports and stopped by its PID.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EtcdServer, startEtcd } from "../scripts/etcdServer.js";
import type { ApplicationRegistry } from "./applicationRegistry.js";
import { createEtcdApplicationRegistry } from "./etcdApplicationRegistry.js";
import { MastershipError } from "./mastership.js";
import { describeApplicationRegistryBehaviour } from "./testing/applicationRegistrySuite.js";

let etcd: EtcdServer | undefined;

beforeAll(async () => {
  etcd = await startEtcd();
});

afterAll(async () => {
  await etcd?.stop();
});

function endpoint(): string {
  if (etcd === undefined) throw new Error("etcd did not start (see the beforeAll error)");
  return etcd.endpoint;
}

async function eventually(check: () => void, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describeApplicationRegistryBehaviour({
  name: "etcd",
  start: async (count) => {
    const prefix = `/test/${randomUUID()}/applications/`;
    const registries: ApplicationRegistry[] = [];
    for (let i = 0; i < count; i++)
      registries.push(await createEtcdApplicationRegistry({ endpoints: [endpoint()], prefix }));
    return registries;
  },
  eventually,
});

describe("etcd application registry", () => {
  it("a registry started later reads the applications already registered", async () => {
    const prefix = `/test/${randomUUID()}/applications/`;
    const first = await createEtcdApplicationRegistry({ endpoints: [endpoint()], prefix });
    const id = await first.register("org.onosproject.rest");
    await first.close();
    const later = await createEtcdApplicationRegistry({ endpoints: [endpoint()], prefix });
    try {
      expect(later.idOf("org.onosproject.rest")).toBe(id);
      expect(await later.register("org.onosproject.core")).toBe(id + 1);
    } finally {
      await later.close();
    }
  });

  it("an unreachable etcd is UNAVAILABLE", async () => {
    await expect(
      createEtcdApplicationRegistry({
        endpoints: ["http://127.0.0.1:1"],
        clientOptions: { dialTimeout: 500 },
      }),
    ).rejects.toBeInstanceOf(MastershipError);
  });
});
