import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createNamespace } from "@flowstore/serializers";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createRecordingLogger } from "./logger.js";
import type { NodeId } from "./node.js";
import type { TlsSettings } from "./tcp/sockets.js";
import { createTcpCluster, type TcpCluster } from "./tcpCluster.js";
import { freePorts, ids, loopbackConfig, text, utf8, waitFor } from "./testing/support.js";

const namespace = createNamespace("tls").register(1, "X", z.number()).build();
const [n1, n2] = ids(2) as [NodeId, NodeId];
const fast = { heartbeatIntervalMs: 100, acceptablePauseMs: 500, minStdDeviationMs: 100 };

let dir = "";
let good: TlsSettings;
let rogue: TlsSettings;

/** A CA and a certificate for 127.0.0.1 signed by it, made with the openssl command. */
function authority(name: string): { ca: string; key: string; cert: string } {
  const file = (suffix: string) => join(dir, `${name}.${suffix}`);
  const run = (...args: string[]) => execFileSync("openssl", args, { stdio: "pipe" });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  run(
    "req",
    "-x509",
    ...ec,
    "-keyout",
    file("ca.key"),
    "-out",
    file("ca.crt"),
    "-days",
    "1",
    "-subj",
    `/CN=${name}-ca`,
  );
  run("req", ...ec, "-keyout", file("key"), "-out", file("csr"), "-subj", `/CN=${name}-node`);
  writeFileSync(file("ext"), "subjectAltName=IP:127.0.0.1\n");
  run(
    "x509",
    "-req",
    "-in",
    file("csr"),
    "-CA",
    file("ca.crt"),
    "-CAkey",
    file("ca.key"),
    "-CAcreateserial",
    "-out",
    file("crt"),
    "-days",
    "1",
    "-extfile",
    file("ext"),
  );
  return {
    ca: readFileSync(file("ca.crt"), "utf8"),
    key: readFileSync(file("key"), "utf8"),
    cert: readFileSync(file("crt"), "utf8"),
  };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "flowstore-tls-"));
  const real = authority("real");
  const other = authority("rogue");
  good = { ...real, mutual: true };
  // Trusts the real CA, but its own certificate is signed by another one.
  rogue = { ca: real.ca, key: other.key, cert: other.cert, mutual: true };
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let running: TcpCluster[] = [];
afterEach(async () => {
  await Promise.all(running.map((node) => node.close()));
  running = [];
});

describe("TLS", () => {
  it("connects and exchanges messages over mutually authenticated TLS", async () => {
    const config = loopbackConfig("tls", await freePorts(2));
    const common = {
      config,
      namespace,
      failureDetector: fast,
      tls: good,
      logger: createRecordingLogger().logger,
    };
    const a = await createTcpCluster({ ...common, local: n1 });
    const b = await createTcpCluster({ ...common, local: n2 });
    running.push(a, b);
    await waitFor(
      "ACTIVE over TLS",
      () => a.membership.state(n2) === "ACTIVE" && b.membership.state(n1) === "ACTIVE",
    );
    b.messaging.serve("echo", (payload) => payload);
    expect(text(await a.messaging.sendAndReceive(n2, "echo", utf8("secret stuff")))).toBe(
      "secret stuff",
    );
  });

  it("refuses a peer whose certificate the cluster's CA did not sign", async () => {
    const config = loopbackConfig("tls", await freePorts(2));
    const recorded = createRecordingLogger();
    const common = {
      config,
      namespace,
      failureDetector: fast,
      reconnect: { initialDelayMs: 20, maxDelayMs: 100 },
    };
    const a = await createTcpCluster({ ...common, local: n1, tls: good, logger: recorded.logger });
    const b = await createTcpCluster({
      ...common,
      local: n2,
      tls: rogue,
      logger: createRecordingLogger().logger,
    });
    running.push(a, b);
    await waitFor("the TLS refusal logged", () =>
      recorded.lines.some((line) => line.message === "TLS handshake failed; connection dropped"),
    );
    expect(a.connectedPeers()).toEqual([]);
    expect(b.connectedPeers()).toEqual([]);
    expect(a.membership.state(n2)).toBe("INACTIVE");
  });
});
