import { createServer } from "node:net";
import { freePorts } from "../freePorts.js";

/**
 * `count` free loopback ports in a row, for `--local N --rest-port P` (node i listens on
 * P + i − 1). Throws after 50 tries.
 */
export async function consecutiveFreePorts(count: number): Promise<number[]> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const [first] = await freePorts(1);
    if (first === undefined || first + count > 65535) continue;
    const ports = Array.from({ length: count }, (_, i) => first + i);
    let free = true;
    for (const port of ports) free &&= await isFree(port);
    if (free) return ports;
  }
  throw new Error(`found no ${count} consecutive free ports`);
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}
