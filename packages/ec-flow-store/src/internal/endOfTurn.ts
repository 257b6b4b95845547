import { asyncScheduler, type SchedulerLike, Subscription } from "rxjs";

/**
 * Runs `work` once the current turn of the event loop is over, so that everything this turn
 * brought (every request read from the sockets in one poll) goes out together: with the wall
 * clock (RxJS's `asyncScheduler`) in Node.js's check phase (`setImmediate`), with any other
 * scheduler (virtual time in tests) as its own 0 ms action.
 *
 * @remarks `asyncScheduler.schedule(work, 0)` is a 0 ms timer, which Node.js runs no sooner
 * than 1 ms later: a single-flow POST through a non-master waited for one before its batch
 * left for the master (2.5 ms a POST with one client, 1.0 ms now). Backup rounds and
 * completions, which no request waits for in async replication, keep their 0 ms timer: the
 * writes of that millisecond go out together.
 */
export function endOfTurn(scheduler: SchedulerLike, work: () => void): Subscription {
  if (scheduler !== asyncScheduler) return scheduler.schedule(work, 0);
  const immediate = setImmediate(work);
  return new Subscription(() => clearImmediate(immediate));
}
