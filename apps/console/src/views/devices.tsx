import { count, duration } from "../format";
import { HIGHLIGHT_MS, type LiveState, recentlyMoved } from "../live";
import type { ConsoleDevice, ConsoleFlowState } from "../protocol";
import { useNow } from "../useLive";

const STATES: readonly ConsoleFlowState[] = [
  "PENDING_ADD",
  "ADDED",
  "PENDING_REMOVE",
  "REMOVED",
  "FAILED",
];

/** Every device with master, ordered backups, term and flow counts; moves highlighted. */
export function DevicesView({ live }: { live: LiveState }) {
  const now = useNow(500);
  return (
    <section>
      <h2>Devices</h2>
      <DeviceTable live={live} now={now} />
      <p class="note">
        A row turns amber for {HIGHLIGHT_MS / 1000} s when its master moves (a hand-over, a
        rebalance), red when it failed over: its master stopped answering and the failure detectors
        convicted it. Flow counts are this node's copy of each table.
      </p>
    </section>
  );
}

/** The device table (also on the failover drill). */
export function DeviceTable({
  live,
  now,
  compact = false,
}: {
  live: LiveState;
  now: number;
  compact?: boolean;
}) {
  return (
    <table data-testid="devices">
      <thead>
        <tr>
          <th>device</th>
          <th>master</th>
          <th>backups</th>
          <th class="num">term</th>
          <th>term state</th>
          {compact
            ? null
            : STATES.map((s) => (
                <th key={s} class="num">
                  {s.toLowerCase().replace("_", " ")}
                </th>
              ))}
          {compact ? null : <th>copy</th>}
        </tr>
      </thead>
      <tbody>
        {live.devices.map((device) => (
          <DeviceRow key={device.id} device={device} live={live} now={now} compact={compact} />
        ))}
      </tbody>
    </table>
  );
}

function DeviceRow({
  device,
  live,
  now,
  compact,
}: {
  device: ConsoleDevice;
  live: LiveState;
  now: number;
  compact: boolean;
}) {
  const moved = recentlyMoved(live, device.id, now);
  const failover =
    device.lastFailoverAt !== null && now + live.clockOffset - device.lastFailoverAt < HIGHLIGHT_MS;
  const cls = failover ? "failover" : moved ? "moved" : "";
  return (
    <tr data-device={device.id} class={cls}>
      <td>
        <a href={`#/flows/${encodeURIComponent(device.id)}`}>{device.id}</a>
        {device.available ? null : <span class="badge">unavailable</span>}
        {failover ? (
          <span class="badge failover-badge">
            failover {duration(now + live.clockOffset - (device.lastFailoverAt ?? 0))} ago
          </span>
        ) : null}
      </td>
      <td data-field="master">{device.master ?? "none"}</td>
      <td>{device.backups.join(", ") || "—"}</td>
      <td class="num" data-field="term">
        {device.term}
      </td>
      <td>
        <span class={`term ${device.termState.toLowerCase()}`}>
          {device.termState.toLowerCase()}
        </span>
      </td>
      {compact
        ? null
        : STATES.map((s) => (
            <td key={s} class="num">
              {device.counts === null ? "—" : count(device.counts[s])}
            </td>
          ))}
      {compact ? null : <td>{device.copy}</td>}
    </tr>
  );
}
