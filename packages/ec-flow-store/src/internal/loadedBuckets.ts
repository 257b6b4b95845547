import type { DeviceId, FlowBucket } from "@flowstore/flow-bucket";
import type { Logger } from "../logger.js";

/**
 * Decodes those of `buckets` still as they were loaded from disk (see flow-bucket's
 * `DeferredFlowBucket`), one at a time, awaiting `pause()` after each so that the node's other
 * work goes on between them, for as long as `going()`. A bucket that does not decode is
 * logged and left as it is (every use of its entries fails). Resolves with how many it
 * decoded, or undefined if it stopped first.
 */
export async function decodeLoadedBuckets(
  device: DeviceId,
  buckets: readonly FlowBucket[],
  options: {
    readonly pause: () => Promise<void>;
    readonly going: () => boolean;
    readonly log: Logger;
  },
): Promise<number | undefined> {
  let decoded = 0;
  for (const bucket of buckets) {
    if (!bucket.deferred) continue;
    decoded++;
    try {
      bucket.decode();
    } catch (error) {
      options.log.error("a bucket loaded from disk does not decode", {
        device,
        bucket: bucket.index,
        error: String(error),
      });
    }
    await options.pause();
    if (!options.going()) return undefined;
  }
  return decoded;
}
