import { bytes, clock, count, duration } from "../format";
import { type LiveState, syncTime } from "../live";
import type { ConsoleNode } from "../protocol";
import { kindOf } from "./drill";

/** The cluster: nodes with status, mastered devices and live figures. */
export function ClusterView({ live }: { live: LiveState }) {
  const flows = live.devices.reduce(
    (sum, d) => sum + (d.counts === null ? 0 : Object.values(d.counts).reduce((a, b) => a + b, 0)),
    0,
  );
  const mastered = live.devices.filter((d) => d.master !== null).length;
  return (
    <section>
      <h2>Cluster</h2>
      <p class="summary">
        {live.nodes.length} nodes · {live.devices.length} devices, {mastered} with a master ·{" "}
        {count(flows)} flow entries in this node's copies
      </p>
      <table data-testid="nodes">
        <thead>
          <tr>
            <th>node</th>
            <th>cluster address</th>
            <th>status</th>
            <th class="num">masters</th>
            <th class="num">process heap</th>
            <th class="num">backup lag</th>
            <th class="num">messages/s</th>
            <th class="num">bytes/s</th>
            <th class="num">writes/s</th>
          </tr>
        </thead>
        <tbody>
          {live.nodes.map((node) => (
            <NodeRow key={node.id} node={node} />
          ))}
        </tbody>
      </table>
      <RecentChanges live={live} />
      <p class="note">
        <b>suspected</b>: stopped answering, not yet convicted by the failure detectors (it still
        masters devices); <b>down</b>: convicted, its devices have moved. Figures are known for the
        nodes running in this process (with <code>--local</code>, one heap for all of them).
      </p>
    </section>
  );
}

function NodeRow({ node }: { node: ConsoleNode }) {
  const f = node.figures;
  return (
    <tr data-node={node.id} class={node.self ? "self" : ""}>
      <td>
        {node.id}
        {node.self ? <span class="badge here">you are here</span> : null}
      </td>
      <td>
        {node.host}:{node.port}
      </td>
      <td>
        <span class={`status ${node.status.toLowerCase()}`}>{node.status.toLowerCase()}</span>
      </td>
      <td class="num">{node.masters}</td>
      <td class="num">{f === null ? "—" : bytes(f.heapUsed)}</td>
      <td class="num">{f === null ? "—" : `${count(f.backupLag)} buckets`}</td>
      <td class="num">{f === null ? "—" : count(f.messagesPerSecond)}</td>
      <td class="num">{f === null ? "—" : bytes(f.bytesPerSecond)}</td>
      <td class="num">{f === null ? "—" : count(f.writesPerSecond)}</td>
    </tr>
  );
}

/** The last few masters that moved (not the first masters of a start). */
function RecentChanges({ live }: { live: LiveState }) {
  const moves = live.timeline
    .filter((c) => c.previousMaster !== null)
    .slice(-5)
    .reverse();
  if (moves.length === 0) return null;
  return (
    <>
      <h3>
        Latest moves <a href="#/drill">(the failover drill)</a>
      </h3>
      <ul class="moves" data-testid="recent-moves">
        {moves.map((c) => {
          const sync = syncTime(c);
          return (
            <li key={`${c.device}:${c.term}`} class={c.failover ? "failover" : ""}>
              <span class="mono">{clock(c.startedAt)}</span> {c.device}: {kindOf(c)}{" "}
              {c.previousMaster} → {c.master}, term {c.term},{" "}
              {sync === null ? "synchronizing…" : `active after ${duration(sync)}`}
            </li>
          );
        })}
      </ul>
    </>
  );
}
