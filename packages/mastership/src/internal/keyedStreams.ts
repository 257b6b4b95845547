import { Observable, type Subscriber, type Subscription } from "rxjs";
import type { Mastership, ReplicaInfo } from "../mastership.js";

/**
 * Per-key streams over one shared source: `stream(key)` emits `current(key)` (when it is
 * defined), then the value of each item of `source()` whose key is `key`. One subscription
 * to the source serves every key's subscribers, each item going only to its own key's: a
 * node following thousands of devices pays per item, not per device. The source is read
 * when the first subscriber comes, so a class can build this before its streams exist.
 */
function keyedStreams<K extends string, E extends { readonly key: K }, V>(
  source: () => Observable<E>,
  pick: (item: E) => V,
  current: (key: K) => V | undefined,
): (key: K) => Observable<V> {
  const subscribers = new Map<K, Set<Subscriber<V>>>();
  let subscription: Subscription | undefined;
  const everyone = () => [...subscribers.values()].flatMap((set) => [...set]);
  const stop = () => {
    subscribers.clear();
    subscription = undefined;
  };
  return (key) =>
    new Observable<V>((subscriber) => {
      const now = current(key);
      if (now !== undefined) subscriber.next(now);
      if (subscriber.closed) return;
      let set = subscribers.get(key);
      if (set === undefined) {
        set = new Set();
        subscribers.set(key, set);
      }
      set.add(subscriber);
      if (subscription === undefined) {
        subscription = source().subscribe({
          next: (item) => {
            const own = subscribers.get(item.key);
            if (own === undefined) return;
            const value = pick(item);
            for (const s of [...own]) s.next(value);
          },
          error: (error: unknown) => {
            const all = everyone();
            stop();
            for (const s of all) s.error(error);
          },
          complete: () => {
            const all = everyone();
            stop();
            for (const s of all) s.complete();
          },
        });
      }
      return () => {
        const own = subscribers.get(key);
        own?.delete(subscriber);
        if (own?.size === 0) subscribers.delete(key);
        if (subscribers.size === 0 && subscription !== undefined) {
          subscription.unsubscribe();
          subscription = undefined;
        }
      };
    });
}

/** Every backend's `info$`: `key`'s info now, then each change of it in `view.events$`. */
export function infoStreams<K extends string>(
  view: Pick<Mastership<K>, "mastership" | "events$">,
): (key: K) => Observable<ReplicaInfo> {
  return keyedStreams(
    () => view.events$,
    (event) => event.info,
    (key) => view.mastership(key),
  );
}

/** Every backend's `activeTerm$`: `key`'s active term now (if any), then each activation. */
export function activeTermStreams<K extends string>(
  view: Pick<Mastership<K>, "activeTerm" | "activations$">,
): (key: K) => Observable<number> {
  return keyedStreams(
    () => view.activations$,
    (activation) => activation.term,
    (key) => view.activeTerm(key),
  );
}
