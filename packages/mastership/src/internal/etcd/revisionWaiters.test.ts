import { describe, expect, it } from "vitest";
import { RevisionWaiters } from "./revisionWaiters.js";

/** Whether `promise` has settled once pending callbacks have run. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(() => {
    done = true;
  });
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

describe("revision waiters", () => {
  it("resolve once their revision is observed and released, not before", async () => {
    const revisions = new RevisionWaiters();
    const at5 = revisions.wait(5);
    const at7 = revisions.wait(7);
    revisions.observe(6);
    expect(await settled(at5)).toBe(false);
    revisions.release();
    expect(await settled(at5)).toBe(true);
    expect(await settled(at7)).toBe(false);
    revisions.observe(4);
    expect(revisions.applied).toBe(6);
    expect(await settled(revisions.wait(6))).toBe(true);
  });

  it("all resolve when the view closes", async () => {
    const revisions = new RevisionWaiters();
    const waiting = revisions.wait(10);
    revisions.releaseAll();
    expect(await settled(waiting)).toBe(true);
  });
});
