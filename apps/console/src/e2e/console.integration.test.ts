// The console in a real browser: Debian's chromium (headless, via playwright-core) against
// `flowstore-node --local 3` started as `pnpm start` starts it. Each view is photographed;
// FLOWSTORE_SCREENSHOTS=1 writes the pictures to apps/console/screenshots/ (the README's).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConsoleSnapshot } from "../protocol";
import { launchChromium } from "./chromium";
import { type NodeProcess, startLocalCluster } from "./nodeProcess";

const SCREENSHOTS = fileURLToPath(new URL("../../screenshots/", import.meta.url));
let shots: string;
let cluster: NodeProcess;
let browser: { context: BrowserContext; profile: string };
let page: Page;

const log = (line: string) => process.stdout.write(`console e2e: ${line}\n`);

async function state(): Promise<ConsoleSnapshot> {
  const response = await fetch(`${cluster.url("n1")}/ui/api/state`);
  return (await response.json()) as ConsoleSnapshot;
}

async function flowsOf(device: string): Promise<{ id: string; state: string }[]> {
  const response = await fetch(`${cluster.url("n1")}/onos/v1/flows/${device}`);
  const body = (await response.json()) as { flows: { id: string; state: string }[] };
  return body.flows;
}

async function shoot(name: string): Promise<void> {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

async function show(route: string): Promise<void> {
  await page.evaluate((hash) => {
    window.location.hash = hash;
  }, route);
}

beforeAll(async () => {
  shots =
    process.env.FLOWSTORE_SCREENSHOTS === "1"
      ? SCREENSHOTS
      : await mkdtemp(join(tmpdir(), "console-shots-"));
  browser = await launchChromium();
  cluster = await startLocalCluster({ devices: 8, extra: ["--stats-period", "500"] });
  page = await browser.context.newPage();
});

afterAll(async () => {
  await browser?.context.close();
  await cluster?.stop();
  if (browser !== undefined) await rm(browser.profile, { recursive: true, force: true });
  if (shots !== undefined && shots !== SCREENSHOTS)
    await rm(shots, { recursive: true, force: true });
});

describe("the web console in chromium", () => {
  it("lists the three nodes, and every device with a master", async () => {
    const started = Date.now();
    await page.goto(`${cluster.url("n1")}/ui/#/cluster`);
    const rows = page.locator("[data-testid=nodes] tbody tr");
    await rows.nth(2).waitFor({ timeout: 10_000 });
    const shown = Date.now() - started;
    // The paint entry is recorded a moment after the paint itself.
    const paint = (await (
      await page.waitForFunction(
        () => performance.getEntriesByName("first-contentful-paint")[0]?.startTime,
        undefined,
        { timeout: 5_000 },
      )
    ).jsonValue()) as number;
    log(`first contentful paint ${paint.toFixed(0)} ms; the live cluster table after ${shown} ms`);
    expect(await rows.count()).toBe(3);
    expect(await rows.locator("td:first-child").allTextContents()).toEqual([
      "n1you are here",
      "n2",
      "n3",
    ]);
    for (const status of await rows.locator(".status").allTextContents()) {
      expect(status).toBe("active");
    }
    await shoot("cluster");

    await show("#/devices");
    const devices = page.locator("[data-testid=devices] tbody tr");
    await devices.nth(7).waitFor();
    expect(await devices.count()).toBe(8);
    const masters = await devices.locator("[data-field=master]").allTextContents();
    expect(masters).toHaveLength(8);
    for (const master of masters) expect(master).toMatch(/^n[123]$/);
  });

  it("shows a flow stored through the REST API on the devices page within a second", async () => {
    const device = "of:0000000000000003";
    const counts = `[data-testid=devices] tr[data-device="${device}"] td.num`;
    const before = (await page.locator(counts).allTextContents()).join("|");
    const response = await fetch(`${cluster.url("n2")}/onos/v1/flows/${device}?appId=10`, {
      method: "POST",
      body: JSON.stringify({
        priority: 100,
        isPermanent: true,
        selector: { criteria: [{ type: "IN_PORT", port: 7 }] },
        treatment: { instructions: [{ type: "OUTPUT", port: "1" }] },
      }),
    });
    expect(response.status).toBe(201);
    const stored = Date.now();
    await page.waitForFunction(
      ({ selector, text }) =>
        [...document.querySelectorAll(selector)].map((cell) => cell.textContent).join("|") !== text,
      { selector: counts, text: before },
      { timeout: 5_000, polling: 20 },
    );
    log(`a stored flow reached the page ${Date.now() - stored} ms after the REST reply`);
    await shoot("devices");
  });

  it("adds a flow from the form, and it shows as ADDED", async () => {
    const device = "of:0000000000000002";
    await show(`#/flows/${device}`);
    await page.locator("[data-testid=add-flow]").waitFor();
    await page.fill(
      "#flow-selector",
      '[{"type": "ETH_TYPE", "ethType": "0x800"}, {"type": "IPV4_DST", "ip": "10.77.0.1/32"}]',
    );
    await page.click("[data-testid=add-flow] button[type=submit]");
    const result = page.locator("[data-testid=add-result]");
    await result.waitFor({ timeout: 10_000 });
    const id = /added flow (\d+)/.exec((await result.textContent()) ?? "")?.[1];
    expect(id).toBeDefined();
    await page.fill("input[name=q]", "10.77.0.1/");
    const state = page.locator(`tr[data-flow="${id}"] [data-field=state]`);
    await expect
      .poll(async () => ((await state.count()) > 0 ? state.textContent() : ""), { timeout: 20_000 })
      .toBe("ADDED");
    expect((await flowsOf(device)).find((f) => f.id === id)?.state).toBe("ADDED");
    // The page is served by a backup of the device: its counters come from the master.
    const packets = page.locator(`tr[data-flow="${id}"] [data-field=packets]`);
    await expect
      .poll(async () => Number((await packets.textContent())?.replaceAll(",", "")), {
        timeout: 20_000,
      })
      .toBeGreaterThan(0);
  });

  it("deletes a flow from its row", async () => {
    const device = "of:0000000000000002";
    await page.fill("#flow-priority", "40000");
    await page.fill(
      "#flow-selector",
      '[{"type": "ETH_TYPE", "ethType": "0x800"}, {"type": "IPV4_DST", "ip": "10.77.0.9/32"}]',
    );
    await page.click("[data-testid=add-flow] button[type=submit]");
    const result = page.locator("[data-testid=add-result]", { hasText: "added flow" });
    await expect.poll(async () => result.textContent(), { timeout: 10_000 }).toMatch(/\d+/);
    const id = /added flow (\d+)/.exec((await result.textContent()) ?? "")?.[1];
    await page.fill("input[name=q]", "10.77.0.9/");
    const row = page.locator(`tr[data-flow="${id}"]`);
    await row.waitFor({ timeout: 10_000 });
    await row.locator("button", { hasText: "delete" }).click();
    await expect
      .poll(async () => (await flowsOf(device)).some((f) => f.id === id), { timeout: 20_000 })
      .toBe(false);
    await expect.poll(async () => row.count(), { timeout: 10_000 }).toBe(0);
  });

  it("shows the field's error for bad input and stores nothing", async () => {
    const device = "of:0000000000000002";
    // A few flows of two applications, so the table has something to page.
    for (const appId of [10, 11]) {
      const flows = Array.from({ length: 15 }, (_, i) => ({
        deviceId: device,
        priority: 1000 + i,
        isPermanent: true,
        selector: {
          criteria: [
            { type: "ETH_TYPE", ethType: "0x800" },
            { type: "IPV4_DST", ip: `10.1.${appId}.${i}/32` },
          ],
        },
        treatment: { instructions: [{ type: "OUTPUT", port: String(1 + (i % 4)) }] },
      }));
      const response = await fetch(`${cluster.url("n1")}/onos/v1/flows?appId=${appId}`, {
        method: "POST",
        body: JSON.stringify({ flows }),
      });
      expect(response.ok, await response.text()).toBe(true);
    }
    const before = (await flowsOf(device)).length;
    await page.fill("#flow-selector", '[{"type": "ETH_TYPE", "ethType": "banana"}]');
    await page.click("[data-testid=add-flow] button[type=submit]");
    const selectorError = page.locator("[data-testid=error-selector]");
    await selectorError.waitFor({ timeout: 10_000 });
    expect(await selectorError.textContent()).toContain("selector.criteria[0].ethType");

    await page.fill(
      "#flow-selector",
      '[{"type": "ETH_TYPE", "ethType": "0x800"}, {"type": "IPV4_DST", "ip": "10.77.0.2/32"}]',
    );
    await page.fill("#flow-priority", "high");
    await page.click("[data-testid=add-flow] button[type=submit]");
    const priorityError = page.locator("[data-testid=error-priority]");
    await priorityError.waitFor({ timeout: 10_000 });
    expect(await priorityError.textContent()).toContain("priority");
    expect(await page.locator("[data-testid=error-selector]").count()).toBe(0);
    await page.fill("input[name=q]", "");
    await page.waitForTimeout(1000);
    await shoot("flows");
    expect((await flowsOf(device)).length).toBe(before);
    expect((await flowsOf(device)).some((f) => JSON.stringify(f).includes("10.77.0.2"))).toBe(
      false,
    );
  });

  it("stops a master from the page and shows the new master and term within 5 s", async () => {
    // Some writes, so the charts have something to show.
    const writes = (async () => {
      for (let i = 0; i < 40; i++) {
        const flows = Array.from({ length: 25 }, (_, j) => ({
          deviceId: `of:000000000000000${1 + ((i + j) % 8)}`,
          priority: 200,
          isPermanent: true,
          selector: { criteria: [{ type: "IN_PORT", port: 1000 + i * 25 + j }] },
          treatment: { instructions: [{ type: "OUTPUT", port: "2" }] },
        }));
        await fetch(`${cluster.url("n1")}/onos/v1/flows?appId=10`, {
          method: "POST",
          body: JSON.stringify({ flows }),
        }).catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    await show("#/drill");
    const now = await state();
    const target =
      now.devices.find((d) => d.master === "n2") ?? now.devices.find((d) => d.master === "n3");
    expect(target).toBeDefined();
    const victim = target!.master!;
    const row = `[data-testid=devices] tr[data-device="${target!.id}"]`;
    await page.locator(row).waitFor();
    const started = Date.now();
    await page.click(`[data-testid=drill-nodes] [data-node=${victim}] button[data-action=stop]`);
    await page.waitForFunction(
      ({ row, victim, term }) => {
        const master = document.querySelector(`${row} [data-field=master]`)?.textContent;
        const shown = Number(document.querySelector(`${row} [data-field=term]`)?.textContent);
        return master !== undefined && master !== victim && master !== "none" && shown > term;
      },
      { row, victim, term: target!.term },
      { timeout: 5_000, polling: 50 },
    );
    const moved = Date.now() - started;
    const master = await page.locator(`${row} [data-field=master]`).textContent();
    const term = Number(await page.locator(`${row} [data-field=term]`).textContent());
    log(`stopped ${victim}: ${target!.id} shows master ${master}, term ${term} after ${moved} ms`);
    expect(moved).toBeLessThan(5_000);
    const change = page.locator(
      `[data-testid=timeline] tr[data-device="${target!.id}"][data-term="${term}"]`,
    );
    await change.waitFor({ timeout: 5_000 });
    await expect
      .poll(async () => change.textContent(), { timeout: 10_000 })
      .not.toContain("synchronizing…");
    // A graceful stop hands the devices over while the node still runs.
    expect(await change.textContent()).toContain(`${victim} → ${master}`);
    expect(await change.textContent()).toContain("hand-over");
    const summary = page.locator("[data-testid=drill-summary]");
    await expect.poll(async () => summary.textContent(), { timeout: 10_000 }).toContain("later");
    log(`the drill's summary: ${await summary.textContent()}`);
    await writes;
    await shoot("drill");

    await show("#/charts");
    await page.locator("[data-testid=charts] .uplot").nth(2).waitFor();
    await page.waitForTimeout(1500);
    await shoot("charts");

    await show("#/drill");
    const start = page.locator(
      `[data-testid=drill-nodes] [data-node=${victim}] button[data-action=start]`,
    );
    await expect.poll(async () => start.isEnabled(), { timeout: 20_000 }).toBe(true);
    await start.click();
    await expect
      .poll(async () => (await state()).nodes.find((n) => n.id === victim)?.status, {
        timeout: 20_000,
      })
      .toBe("ACTIVE");
  });
});
