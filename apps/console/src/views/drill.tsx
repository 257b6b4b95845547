import { useState } from "preact/hooks";
import { clock, duration } from "../format";
import { type LiveState, syncTime } from "../live";
import type { TermChange } from "../protocol";
import { useNow } from "../useLive";
import { DeviceTable } from "./devices";

/** Term changes listed, newest first. */
const SHOWN_CHANGES = 40;

type Action = "stop" | "crash" | "start";
interface Stop {
  readonly node: string;
  readonly action: "stop" | "crash";
  /** Page time (ms). */
  readonly at: number;
}

const PAST: Record<Action, string> = { stop: "stopped", crash: "crashed", start: "started" };
const TITLES: Record<"stop" | "crash", string> = {
  stop: "stop the node gracefully: it hands its devices over first",
  crash: "crash the node: no hand-over, the failure detectors convict it",
};

/** Stop and start nodes, and watch devices move: the timeline of term changes. */
export function DrillView({ live }: { live: LiveState }) {
  const now = useNow(500);
  const [pending, setPending] = useState<string | undefined>(undefined);
  const [message, setMessage] = useState<string | undefined>(undefined);
  const [stopped, setStopped] = useState<Stop | undefined>(undefined);

  const act = async (node: string, action: Action) => {
    setPending(`${action} ${node}`);
    setMessage(undefined);
    setStopped(action === "start" ? undefined : { node, action, at: Date.now() });
    // A graceful stop and a start are the REST API's; a crash is the console's own.
    const url =
      action === "crash"
        ? `/ui/api/nodes/${encodeURIComponent(node)}/crash`
        : `/onos/v1/admin/nodes/${encodeURIComponent(node)}/${action}`;
    try {
      const response = await fetch(url, { method: "POST" });
      setMessage(
        response.ok
          ? `${PAST[action]} ${node} at ${clock(Date.now())}`
          : `${action} ${node} failed: ${response.status} ${await response.text()}`,
      );
    } catch (error) {
      setMessage(`${action} ${node} failed: ${String(error)}`);
    } finally {
      setPending(undefined);
    }
  };

  const timeline = [...live.timeline].reverse().slice(0, SHOWN_CHANGES);
  const older = live.timeline.length - timeline.length;
  return (
    <section>
      <h2>Failover drill</h2>
      {live.admin ? null : (
        <p class="note">
          Stopping and starting nodes from the page needs <code>flowstore-node --local N</code>.
        </p>
      )}
      <div class="cards" data-testid="drill-nodes">
        {live.nodes.map((node) => {
          const running = node.status === "ACTIVE";
          return (
            <div class={`card ${node.status.toLowerCase()}`} key={node.id} data-node={node.id}>
              <h3>
                {node.id}{" "}
                <span class={`status ${node.status.toLowerCase()}`}>
                  {node.status.toLowerCase()}
                </span>
              </h3>
              <p>masters {node.masters} devices</p>
              {live.admin ? (
                <div class="row">
                  {(["stop", "crash"] as const)
                    .filter((action) => live.adminActions.includes(action))
                    .map((action) => (
                      <button
                        key={action}
                        type="button"
                        class="danger"
                        data-action={action}
                        disabled={!running || node.self || pending !== undefined}
                        title={node.self ? "this page is served by this node" : TITLES[action]}
                        onClick={() => void act(node.id, action)}
                      >
                        {action}
                      </button>
                    ))}
                  <button
                    type="button"
                    data-action="start"
                    disabled={node.status !== "DOWN" || pending !== undefined}
                    onClick={() => void act(node.id, "start")}
                  >
                    start
                  </button>
                </div>
              ) : null}
            </div>
          );
        })}
      </div>
      {message === undefined ? null : (
        <p class="ok" data-testid="drill-message">
          {message}
          {stopped === undefined ? null : (
            <span data-testid="drill-summary">
              {" · "}
              {stopSummary(live, stopped) ?? "waiting for its devices to move…"}
            </span>
          )}
        </p>
      )}
      <h3>Devices</h3>
      <DeviceTable live={live} now={now} compact />
      <h3>Term changes</h3>
      <p class="note">
        A term starts when the coordinator names a new master, which then pulls the newest copy from
        the old master or the backups (sync), and becomes active when it has it: writes resume.
        Times as node {live.self} saw them.
      </p>
      <Timeline changes={timeline} now={now + live.clockOffset} />
      {older > 0 ? <p class="note">… and {older} older term changes.</p> : null}
    </section>
  );
}

/** What a term change was: the first master, a failover, a hand-over, or the same master again. */
export function kindOf(change: TermChange): string {
  if (change.previousMaster === null) return "first master";
  if (change.failover) return "failover";
  return change.previousMaster === change.master ? "new term, same master" : "hand-over";
}

/** "n2's 3 devices moved 0.2 s after the stop (hand-over), active 5–9 ms later". */
function stopSummary(live: LiveState, stop: Stop): string | undefined {
  const at = stop.at + live.clockOffset;
  const moved = live.timeline.filter((c) => c.previousMaster === stop.node && c.startedAt >= at);
  if (moved.length === 0) return undefined;
  const after = Math.max(...moved.map((c) => c.startedAt)) - at;
  const syncs = moved.map(syncTime).filter((t): t is number => t !== null);
  const fastest = Math.min(...syncs);
  const slowest = Math.max(...syncs);
  const active =
    syncs.length === 0
      ? "synchronizing"
      : `active ${duration(fastest)}${slowest !== fastest ? `–${duration(slowest)}` : ""} later`;
  const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;
  const failovers = moved.filter((c) => c.failover).length;
  const how = [
    ...(moved.length > failovers ? [`${plural(moved.length - failovers, "hand-over")}`] : []),
    ...(failovers > 0 ? [`${plural(failovers, "failover")}: the failure detectors' verdict`] : []),
  ].join(", ");
  return `${stop.node}'s ${plural(moved.length, "device")} moved ${duration(after)} after the ${stop.action} (${how}), ${active}`;
}

function Timeline({ changes, now }: { changes: readonly TermChange[]; now: number }) {
  if (changes.length === 0) return <p class="note">No term change since this node started.</p>;
  // A term still synchronizing counts its time so far; one superseded, until it was.
  const elapsed = (c: TermChange) => syncTime(c) ?? (c.supersededAt ?? now) - c.startedAt;
  const longest = Math.max(1, ...changes.map(elapsed));
  return (
    <table data-testid="timeline" class="timeline">
      <thead>
        <tr>
          <th>started (sync start)</th>
          <th>device</th>
          <th class="num">term</th>
          <th>master</th>
          <th>kind</th>
          <th>activated</th>
          <th>sync time</th>
        </tr>
      </thead>
      <tbody>
        {changes.map((c) => {
          const sync = syncTime(c);
          const shown = elapsed(c);
          const kind = kindOf(c);
          const superseded = c.activatedAt === null && c.supersededAt !== null;
          return (
            <tr
              key={`${c.device}:${c.term}`}
              class={c.failover ? "failover" : superseded ? "superseded" : ""}
              data-device={c.device}
              data-term={c.term}
            >
              <td class="mono">{clock(c.startedAt)}</td>
              <td>{c.device}</td>
              <td class="num">
                {c.previousTerm === null ? "" : `${c.previousTerm} → `}
                {c.term}
              </td>
              <td>
                {c.previousMaster === null ? "" : `${c.previousMaster} → `}
                {c.master ?? "none"}
              </td>
              <td>{kind}</td>
              <td class="mono">
                {c.activatedAt !== null
                  ? clock(c.activatedAt)
                  : superseded
                    ? "never (a newer term came)"
                    : "synchronizing…"}
              </td>
              <td class="bar-cell">
                <span
                  class={`bar ${superseded ? "cut" : sync === null ? "open" : ""}`}
                  style={{ width: `${Math.max(2, (shown / longest) * 160)}px` }}
                />
                {sync !== null
                  ? duration(sync)
                  : superseded
                    ? `${duration(shown)}, cut short`
                    : `${duration(shown)}…`}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
