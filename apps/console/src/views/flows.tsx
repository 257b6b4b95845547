import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import {
  DEFAULT_FORM,
  errorsOfResponse,
  type FieldErrors,
  type FlowFormField,
  type FlowFormValues,
  flowRequest,
} from "../flowForm";
import { bytes, count } from "../format";
import type { LiveState } from "../live";
import type { ConsoleFlowState, FlowPage } from "../protocol";

const STATES: readonly ConsoleFlowState[] = [
  "PENDING_ADD",
  "ADDED",
  "PENDING_REMOVE",
  "REMOVED",
  "FAILED",
];
const PAGE_SIZE = 50;
/** How often the shown page is asked for again, for its counters (ms). */
const COUNTERS_PERIOD = 3000;

interface Filter {
  readonly state: string;
  readonly app: string;
  readonly priority: string;
  readonly q: string;
}

const NO_FILTER: Filter = { state: "", app: "", priority: "", q: "" };

/** One device's flows: paged, filtered, refreshed as its table changes; add and delete. */
export function FlowsView({ live, device }: { live: LiveState; device: string | undefined }) {
  const selected = device ?? live.devices[0]?.id;
  if (selected === undefined) return <p>No devices.</p>;
  const row = live.devices.find((d) => d.id === selected);
  return (
    <section>
      <h2>
        Flows of{" "}
        <select
          data-testid="device"
          value={selected}
          onChange={(e) => {
            window.location.hash = `#/flows/${encodeURIComponent(e.currentTarget.value)}`;
          }}
        >
          {live.devices.map((d) => (
            <option key={d.id} value={d.id}>
              {d.id}
            </option>
          ))}
        </select>
      </h2>
      {row === undefined ? null : (
        <p class="summary">
          master {row.master ?? "none"} · term {row.term} ({row.termState.toLowerCase()}) · backups{" "}
          {row.backups.join(", ") || "none"}
        </p>
      )}
      <FlowTable
        key={selected}
        device={selected}
        version={row === undefined ? "" : JSON.stringify(row.counts)}
      />
    </section>
  );
}

function FlowTable({ device, version }: { device: string; version: string }) {
  const [filter, setFilter] = useState<Filter>(NO_FILTER);
  const [typed, setTyped] = useState<Filter>(NO_FILTER);
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState<FlowPage | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [took, setTook] = useState<number | undefined>(undefined);
  const [reload, setReload] = useState(0);

  // Counters change with every device report, not the table: ask again every few seconds.
  useEffect(() => {
    const timer = setInterval(() => setReload((n) => n + 1), COUNTERS_PERIOD);
    return () => clearInterval(timer);
  }, []);

  // Typing waits 250 ms before asking the node.
  useEffect(() => {
    const timer = setTimeout(() => {
      setFilter(typed);
      setOffset(0);
    }, 250);
    return () => clearTimeout(timer);
  }, [typed]);

  // Ask again when the filter or page changes, and (at most twice a second) when the
  // device's counts change: a flow added or removed shows up without a click.
  const last = useRef(0);
  useEffect(() => {
    let cancelled = false;
    const ask = async () => {
      const query = new URLSearchParams({ offset: String(offset), limit: String(PAGE_SIZE) });
      for (const [name, value] of Object.entries(filter)) if (value !== "") query.set(name, value);
      const started = performance.now();
      const response = await fetch(`/ui/api/devices/${encodeURIComponent(device)}/flows?${query}`);
      const body = (await response.json()) as FlowPage | { message: string };
      if (cancelled) return;
      setTook(performance.now() - started);
      if (!response.ok || !("flows" in body)) {
        setError("message" in body ? body.message : `the node answered ${response.status}`);
        return;
      }
      setError(undefined);
      setPage(body);
      // A filtered count is still going on at the node: ask again shortly.
      if (!body.complete) setTimeout(() => !cancelled && setReload((n) => n + 1), 300);
    };
    const wait = Math.max(0, last.current + 500 - Date.now());
    const timer = setTimeout(() => {
      last.current = Date.now();
      ask().catch((e: unknown) => setError(String(e)));
    }, wait);
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [device, filter, offset, version, reload]);

  const remove = async (id: string) => {
    const response = await fetch(
      `/onos/v1/flows/${encodeURIComponent(device)}/${encodeURIComponent(id)}`,
      { method: "DELETE" },
    );
    if (!response.ok) setError(`delete failed: ${response.status} ${await response.text()}`);
    setReload((n) => n + 1);
  };

  const set = (name: keyof Filter) => (e: Event) =>
    setTyped({ ...typed, [name]: (e.currentTarget as HTMLInputElement).value });
  const total = page?.total ?? 0;
  return (
    <>
      <AddFlowForm device={device} onAdded={() => setReload((n) => n + 1)} />
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          state
          <select name="state" value={typed.state} onChange={set("state")}>
            <option value="">any</option>
            {STATES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          application
          <input
            name="app"
            placeholder="id or name"
            value={typed.app}
            onInput={set("app")}
            size={14}
          />
        </label>
        <label>
          priority
          <input name="priority" value={typed.priority} onInput={set("priority")} size={6} />
        </label>
        <label>
          selector contains
          <input
            name="q"
            placeholder="IPV4_DST:10.0.0.1"
            value={typed.q}
            onInput={set("q")}
            size={24}
          />
        </label>
      </form>
      {error === undefined ? null : (
        <p class="error" data-testid="flows-error">
          {error}
        </p>
      )}
      <div class="pager">
        <button
          type="button"
          disabled={offset === 0}
          onClick={() => setOffset(Math.max(0, offset - PAGE_SIZE))}
        >
          ‹ previous
        </button>
        <span data-testid="page-info">
          {total === 0
            ? page?.complete === false
              ? "searching…"
              : "no flows"
            : `${count(offset + 1)}–${count(Math.min(total, offset + PAGE_SIZE))} of ${page?.complete === false ? `at least ${count(total)} (counting…)` : count(total)}`}
          {page === undefined
            ? null
            : ` · read from the ${page.source === "remote" ? "master over the network" : page.source === "backup" ? "backup copy on this node, counters from the master," : "master copy on this node"} in ${page.tookMs} ms${took === undefined ? "" : `, ${Math.round(took)} ms with the round trip`}`}
        </span>
        <button
          type="button"
          disabled={offset + PAGE_SIZE >= total}
          onClick={() => setOffset(offset + PAGE_SIZE)}
        >
          next ›
        </button>
      </div>
      <table data-testid="flows" class="flows">
        <thead>
          <tr>
            <th>flow id</th>
            <th>state</th>
            <th>app</th>
            <th class="num">priority</th>
            <th class="num">table</th>
            <th>selector</th>
            <th>treatment</th>
            <th class="num">packets</th>
            <th class="num">bytes</th>
            <th class="num">life</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(page?.flows ?? []).map((flow) => (
            <tr key={flow.id} data-flow={flow.id}>
              <td class="mono">{flow.id}</td>
              <td>
                <span class={`state ${flow.state.toLowerCase()}`} data-field="state">
                  {flow.state}
                </span>
              </td>
              <td title={String(flow.appId)}>{flow.appName ?? flow.appId}</td>
              <td class="num">{flow.priority}</td>
              <td class="num">{flow.tableId}</td>
              <td class="mono">{flow.selector}</td>
              <td class="mono">{flow.treatment}</td>
              <td class="num" data-field="packets">
                {count(flow.packets)}
              </td>
              <td class="num">{bytes(flow.bytes)}</td>
              <td class="num">{flow.life} s</td>
              <td>
                <button
                  type="button"
                  class="danger"
                  disabled={flow.state === "PENDING_REMOVE" || flow.state === "REMOVED"}
                  onClick={() => void remove(flow.id)}
                >
                  delete
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

/** The add-flow form: posts ONOS JSON to the REST API and shows its error at the field. */
function AddFlowForm({ device, onAdded }: { device: string; onAdded: () => void }) {
  const [values, setValues] = useState<FlowFormValues>(DEFAULT_FORM);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [result, setResult] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    setResult(undefined);
    const request = flowRequest(values);
    if ("errors" in request) {
      setErrors(request.errors);
      return;
    }
    setBusy(true);
    try {
      const response = await fetch(`/onos/v1/flows/${encodeURIComponent(device)}${request.query}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(request.body),
      });
      const text = await response.text();
      let body: unknown;
      try {
        body = JSON.parse(text) as unknown;
      } catch {
        body = { message: text };
      }
      if (!response.ok) {
        setErrors(errorsOfResponse(response.status, body));
        return;
      }
      setErrors({});
      const id = (body as { flows?: { flowId?: string }[] }).flows?.[0]?.flowId;
      setResult(`added flow ${id ?? ""} (${response.status})`);
      onAdded();
    } catch (error) {
      setErrors({ form: String(error) });
    } finally {
      setBusy(false);
    }
  };

  const field = (name: FlowFormField, label: string, input: ComponentChildren) => (
    <div class={errors[name] === undefined ? "field" : "field invalid"} data-field={name}>
      <label for={`flow-${name}`}>{label}</label>
      {input}
      {errors[name] === undefined ? null : (
        <span class="field-error" data-testid={`error-${name}`}>
          {errors[name]}
        </span>
      )}
    </div>
  );
  const text = (name: "appId" | "priority" | "tableId" | "timeout", size: number) => (
    <input
      id={`flow-${name}`}
      name={name}
      size={size}
      value={values[name]}
      onInput={(e) => setValues({ ...values, [name]: e.currentTarget.value })}
    />
  );
  const area = (name: "selector" | "treatment") => (
    <textarea
      id={`flow-${name}`}
      name={name}
      rows={2}
      value={values[name]}
      onInput={(e) => setValues({ ...values, [name]: e.currentTarget.value })}
    />
  );
  return (
    <form class="add-flow" data-testid="add-flow" onSubmit={(e) => void submit(e)}>
      <h3>Add a flow (ONOS JSON, checked by the REST API's schema)</h3>
      <div class="row">
        {field("appId", "application (id or name; empty: org.onosproject.rest)", text("appId", 16))}
        {field("priority", "priority", text("priority", 6))}
        {field("tableId", "table", text("tableId", 3))}
        {field(
          "permanent",
          "permanent",
          <input
            id="flow-permanent"
            type="checkbox"
            name="permanent"
            checked={values.permanent}
            onChange={(e) => setValues({ ...values, permanent: e.currentTarget.checked })}
          />,
        )}
        {values.permanent ? null : field("timeout", "timeout (s)", text("timeout", 5))}
      </div>
      {field("selector", "selector criteria", area("selector"))}
      {field("treatment", "treatment instructions", area("treatment"))}
      <div class="row">
        <button type="submit" disabled={busy}>
          add flow
        </button>
        {result === undefined ? null : (
          <span class="ok" data-testid="add-result">
            {result}
          </span>
        )}
        {errors.form === undefined ? null : (
          <span class="field-error" data-testid="error-form">
            {errors.form}
          </span>
        )}
      </div>
    </form>
  );
}
