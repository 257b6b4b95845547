import type { NodeId } from "@flowstore/cluster-messaging";
import type { DeviceId } from "@flowstore/flow-bucket";
import type { Mastership, ReplicaInfo } from "@flowstore/mastership";
import { map, merge, mergeMap, type Observable, scan, share } from "rxjs";
import { assertNever } from "./assertNever.js";

/**
 * A step in the life of one device's mastership term, as seen by the local node.
 *
 * - `TERM_START` — a new term began (`info.term` grew); `previous` is the last term that had a
 *   master, which the new master synchronizes from.
 * - `TERM_UPDATE` — the same term, new backups.
 * - `TERM_ACTIVE` — the term's master has synchronized and published the term.
 * - `TERM_END` — the term is over (a newer one started, or the device lost its master).
 */
export type LifecycleEvent =
  | {
      readonly type: "TERM_START";
      readonly info: ReplicaInfo;
      readonly previous: ReplicaInfo | undefined;
    }
  | { readonly type: "TERM_UPDATE"; readonly info: ReplicaInfo }
  | { readonly type: "TERM_ACTIVE"; readonly info: ReplicaInfo }
  | { readonly type: "TERM_END"; readonly info: ReplicaInfo };

interface State {
  /** The newest info seen. */
  readonly info: ReplicaInfo | undefined;
  /** The newest info that had a master: what the next master synchronizes from. */
  readonly mastered: ReplicaInfo | undefined;
  /** The newest term announced active. */
  readonly activeTerm: number;
  readonly out: readonly LifecycleEvent[];
}

type Input =
  | { readonly kind: "info"; readonly info: ReplicaInfo }
  | { readonly kind: "activation"; readonly term: number };

const INITIAL: State = { info: undefined, mastered: undefined, activeTerm: 0, out: [] };

/**
 * The lifecycle of `device`'s terms, derived from the mastership view's replica infos and
 * term activations. Subscribing replays the current term (a `TERM_START`, and a
 * `TERM_ACTIVE` if it is already active).
 *
 * @remarks Pure stream composition: `info$` and the device's activations are merged and
 * folded into term state, so a late subscriber and a live one see the same sequence.
 */
export function deviceLifecycle$(
  mastership: Mastership<DeviceId>,
  device: DeviceId,
): Observable<LifecycleEvent> {
  const infos = mastership.info$(device).pipe(map((info): Input => ({ kind: "info", info })));
  const activations = mastership
    .activeTerm$(device)
    .pipe(map((term): Input => ({ kind: "activation", term })));

  return merge(infos, activations).pipe(
    scan(step, INITIAL),
    mergeMap((state) => state.out),
    share(),
  );
}

function step(state: State, input: Input): State {
  switch (input.kind) {
    case "info":
      return onInfo(state, input.info);
    case "activation":
      return onActivation(state, input.term);
    default:
      return assertNever(input);
  }
}

function onInfo(state: State, info: ReplicaInfo): State {
  const before = state.info;
  const out: LifecycleEvent[] = [];
  const mastered = info.master === undefined ? state.mastered : info;
  if (info.master === undefined) {
    // No master: the current term is over, and nobody may write until a new one starts.
    if (before?.master !== undefined) out.push({ type: "TERM_END", info: before });
    return { ...state, info, out };
  }
  // Stale: terms only grow, even past a spell with no master.
  if (before !== undefined && info.term < before.term) return { ...state, out: [] };
  if (before === undefined || before.master === undefined || info.term > before.term) {
    if (before?.master !== undefined) out.push({ type: "TERM_END", info: before });
    out.push({ type: "TERM_START", info, previous: state.mastered });
    if (state.activeTerm === info.term) out.push({ type: "TERM_ACTIVE", info });
    return { ...state, info, mastered, out };
  }
  const backupsChanged =
    info.backups.length !== before.backups.length ||
    info.backups.some((node: NodeId, i) => node !== before.backups[i]);
  if (backupsChanged) out.push({ type: "TERM_UPDATE", info });
  return { ...state, info, mastered, out };
}

function onActivation(state: State, term: number): State {
  if (term <= state.activeTerm) return { ...state, out: [] };
  const info = state.info;
  const out: LifecycleEvent[] =
    info !== undefined && info.master !== undefined && info.term === term
      ? [{ type: "TERM_ACTIVE", info }]
      : [];
  return { ...state, activeTerm: term, out };
}
