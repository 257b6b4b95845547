import * as net from "node:net";

/**
 * `count` distinct TCP ports that were free on `host` a moment ago: all bound on port 0 at
 * once, read, then released. For tests, benchmarks and `--local` clusters that must tell
 * every node its peers' ports before any of them listens.
 */
export async function freePorts(count: number, host = "127.0.0.1"): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const server = net.createServer();
          server.once("error", reject);
          server.listen({ host, port: 0 }, () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => (server.address() as net.AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}
