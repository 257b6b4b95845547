import type { LiveState } from "./live";
import { useLive, useRoute } from "./useLive";
import { ChartsView } from "./views/charts";
import { ClusterView } from "./views/cluster";
import { DevicesView } from "./views/devices";
import { DrillView } from "./views/drill";
import { FlowsView } from "./views/flows";

const PAGES = [
  ["cluster", "Cluster"],
  ["devices", "Devices"],
  ["flows", "Flows"],
  ["drill", "Failover drill"],
  ["charts", "Charts"],
] as const;

/** The console: one live state, five views. */
export function App() {
  const live = useLive();
  const route = useRoute();
  const page = route[0] ?? "cluster";
  return (
    <>
      <header>
        <h1>flowstore</h1>
        <nav>
          {PAGES.map(([id, title]) => (
            <a key={id} href={`#/${id}`} class={page === id ? "current" : ""}>
              {title}
            </a>
          ))}
        </nav>
        <Connection live={live} />
      </header>
      <main>
        {live.loaded ? <Page page={page} route={route} live={live} /> : <p>Connecting…</p>}
      </main>
    </>
  );
}

function Connection({ live }: { live: LiveState }) {
  return (
    <span class={`connection ${live.connected ? "up" : "down"}`} data-testid="connection">
      {live.connected ? `live · on node ${live.self}` : "reconnecting…"}
    </span>
  );
}

function Page({ page, route, live }: { page: string; route: string[]; live: LiveState }) {
  switch (page) {
    case "devices":
      return <DevicesView live={live} />;
    case "flows":
      return <FlowsView live={live} device={route[1]} />;
    case "drill":
      return <DrillView live={live} />;
    case "charts":
      return <ChartsView live={live} />;
    default:
      return <ClusterView live={live} />;
  }
}
