import { useEffect, useReducer, useState } from "preact/hooks";
import { INITIAL_STATE, type LiveState, reduce } from "./live";
import type { ConsoleEvent } from "./protocol";

type Action = { kind: "event"; event: ConsoleEvent; now: number } | { kind: "closed" };

function step(state: LiveState, action: Action): LiveState {
  return action.kind === "closed"
    ? { ...state, connected: false }
    : reduce(state, action.event, action.now);
}

const EVENTS = ["snapshot", "nodes", "devices", "term", "metrics"] as const;

/**
 * The node's live state, from one event stream (`/ui/api/events`) for the whole page. The
 * browser reconnects by itself (the node asks for a retry after 1 s) and the node starts
 * each stream with a full snapshot, so nothing is lost across a reconnection.
 */
export function useLive(): LiveState {
  const [state, dispatch] = useReducer(step, INITIAL_STATE);
  useEffect(() => {
    const source = new EventSource("/ui/api/events");
    const onEvent = (message: MessageEvent<string>) => {
      dispatch({ kind: "event", event: JSON.parse(message.data) as ConsoleEvent, now: Date.now() });
    };
    for (const name of EVENTS) source.addEventListener(name, onEvent);
    source.onerror = () => dispatch({ kind: "closed" });
    return () => source.close();
  }, []);
  return state;
}

/** The page clock, ticking every `period` ms (for "moved 3 s ago" highlights). */
export function useNow(period = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), period);
    return () => clearInterval(timer);
  }, [period]);
  return now;
}

/** The location hash as a route: `#/flows/of:1` → `["flows", "of:1"]`. */
export function useRoute(): string[] {
  const read = () =>
    window.location.hash
      .replace(/^#\/?/, "")
      .split("/")
      .filter((part) => part !== "")
      .map(decodeURIComponent);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const onChange = () => setRoute(read());
    window.addEventListener("hashchange", onChange);
    return () => window.removeEventListener("hashchange", onChange);
  }, []);
  return route;
}
