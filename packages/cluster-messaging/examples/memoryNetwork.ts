import { createMemoryNetwork, nodeId } from "@flowstore/cluster-messaging";
import { VirtualTimeScheduler } from "rxjs";

const scheduler = new VirtualTimeScheduler(); // every delay and timer runs in virtual time
const net = createMemoryNetwork({
  nodes: ["n1", "n2", "n3"],
  scheduler,
  seed: 42, // drops and jitter: the same run every time
  link: { delayMs: 2, jitterMs: 10, dropRate: 0.05 },
});
const [n1, n2] = [nodeId("n1"), nodeId("n2")];
const [a] = await Promise.all([net.start(n1), net.start(n2)]);

/** Runs `ms` of virtual time, letting promises settle after every millisecond. */
async function advance(ms: number): Promise<void> {
  for (const end = scheduler.frame + ms; scheduler.frame < end; ) {
    scheduler.maxFrames = scheduler.frame + 1;
    scheduler.flush();
    scheduler.frame = scheduler.maxFrames;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

await advance(1000);
console.log(a.membership.state(n2)); // ACTIVE
net.partition([n1], [n2]); // silent: requests time out, the failure detectors convict
await advance(10_000);
console.log(a.membership.state(n2)); // INACTIVE
net.heal();
await advance(1000);
console.log(a.membership.state(n2)); // ACTIVE
net.setLink(n1, n2, { dropRate: 1 }); // one direction only
await net.crash(n2); // survivors see a reset connection: in-flight requests fail UNREACHABLE
await net.start(n2); // a restart
await net.close();
