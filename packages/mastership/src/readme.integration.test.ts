// The README's etcd example, against a real etcd started here on free loopback ports.
import { afterAll, beforeAll, expect, it, vi } from "vitest";
import { type EtcdServer, startEtcd } from "../scripts/etcdServer.js";

let etcd: EtcdServer | undefined;

beforeAll(async () => {
  etcd = await startEtcd();
});

afterAll(async () => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  await etcd?.stop();
});

it("etcd: the only candidate masters the device and activates its term", async () => {
  if (etcd === undefined) throw new Error("etcd did not start (see the beforeAll error)");
  vi.stubEnv("ETCD_ENDPOINTS", etcd.endpoint);
  const log = vi.spyOn(console, "log").mockImplementation(() => {});
  await import("../examples/etcd.js");
  expect(log.mock.calls).toEqual([["n1", true]]);
});
