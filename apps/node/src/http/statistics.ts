import type { DeviceId } from "@flowstore/flow-bucket";
import { z } from "zod";
import type { HttpContext, ZodApp } from "./context.js";
import { knownDevice } from "./params.js";
import { ActiveEntriesSchema, ErrorSchema, TableStatisticsSchema } from "./schemas.js";

const tags = ["statistics"];

type TableRow = z.output<typeof TableStatisticsSchema>["statistics"][number]["table"][number];

/** ONOS's `StatisticsWebResource`: active entries per device, flow table statistics. */
export function statisticsRoutes(app: ZodApp, context: HttpContext): void {
  const { store, fleet } = context;

  app.get(
    "/statistics/flows/activeentries",
    {
      schema: {
        tags,
        summary: "ADDED flow entries per device",
        response: { 200: ActiveEntriesSchema },
      },
    },
    async () => ({
      statistics: await Promise.all(
        fleet.ids().map(async (device) => ({
          device,
          activeEntries: await store.getFlowRuleCount({ deviceId: device, state: "ADDED" }),
        })),
      ),
    }),
  );
  app.get(
    "/statistics/flows/tables",
    {
      schema: {
        tags,
        summary: "Flow table statistics of every device",
        response: { 200: TableStatisticsSchema },
      },
    },
    async () => ({
      statistics: await Promise.all(
        fleet.ids().map(async (device) => ({ device, table: await tables(device) })),
      ),
    }),
  );
  app.get(
    "/statistics/flows/tables/:deviceId",
    {
      schema: {
        tags,
        summary: "Flow table statistics of one device",
        params: z.object({ deviceId: z.string() }),
        response: { 200: TableStatisticsSchema, 404: ErrorSchema },
      },
    },
    async (request) => {
      const device = knownDevice(context, request.params.deviceId);
      return { statistics: [{ device, table: await tables(device) }] };
    },
  );

  /**
   * A device's table statistics as reported to the store; when it reported none, counted
   * from its entries (ADDED entries per table, their packets as lookups and matches).
   */
  async function tables(device: DeviceId): Promise<TableRow[]> {
    const reported = await store.getTableStatistics(device);
    if (reported.length > 0) {
      return reported.map((t) => ({
        tableId: String(t.tableId),
        deviceId: device,
        activeEntries: t.activeFlowEntries,
        packetsLookedUp: t.packetsLookedUp,
        packetsMatched: t.packetsMatched,
      }));
    }
    const byTable = new Map<string, TableRow>();
    for (const entry of await store.getFlowEntries(device)) {
      const tableId = String(entry.rule.tableId);
      let row = byTable.get(tableId);
      if (row === undefined) {
        row = {
          tableId,
          deviceId: device,
          activeEntries: 0,
          packetsLookedUp: 0,
          packetsMatched: 0,
        };
        byTable.set(tableId, row);
      }
      if (entry.state === "ADDED") row.activeEntries++;
      row.packetsLookedUp += entry.packets;
      row.packetsMatched += entry.packets;
    }
    return [...byTable.values()].sort((a, b) => Number(a.tableId) - Number(b.tableId));
  }
}
