// One behavioural suite that every ApplicationRegistry backend must pass.
import { afterEach, describe, expect, it } from "vitest";
import { type ApplicationRegistry, REST_APPLICATION } from "../applicationRegistry.js";
import { MastershipError } from "../mastership.js";

/** How a backend starts `count` registries that share one coordinator (one per node). */
export interface ApplicationRegistryBackend {
  readonly name: string;
  start(count: number): Promise<readonly ApplicationRegistry[]>;
  /** Waits until `check` stops throwing (a watch may deliver another node's write later). */
  eventually(check: () => void): Promise<void>;
}

/** Registers the shared behavioural tests for `backend`. */
export function describeApplicationRegistryBehaviour(backend: ApplicationRegistryBackend): void {
  describe(`${backend.name}: shared application registry behaviour`, () => {
    let registries: readonly ApplicationRegistry[] = [];
    afterEach(async () => {
      for (const r of registries) await r.close();
      registries = [];
    });

    it("gives a name one id, the same on every node, and keeps it", async () => {
      registries = await backend.start(3);
      const [a, b, c] = registries as [
        ApplicationRegistry,
        ApplicationRegistry,
        ApplicationRegistry,
      ];
      const id = await a.register(REST_APPLICATION);
      expect(id).toBeGreaterThanOrEqual(1);
      expect(id).toBeLessThanOrEqual(0xffff);
      expect(await a.register(REST_APPLICATION)).toBe(id);
      expect(await b.register(REST_APPLICATION)).toBe(id);
      await backend.eventually(() => {
        expect(c.idOf(REST_APPLICATION)).toBe(id);
        expect(c.nameOf(id)).toBe(REST_APPLICATION);
      });
    });

    it("never gives two names one id, even when nodes register at once", async () => {
      registries = await backend.start(3);
      const names = Array.from({ length: 12 }, (_, i) => `org.example.app${i}`);
      const results = await Promise.all(
        registries.flatMap((r) =>
          names.map(async (name) => [name, await r.register(name)] as const),
        ),
      );
      const idOf = new Map<string, number>();
      for (const [name, id] of results) {
        expect(idOf.get(name) ?? id).toBe(id);
        idOf.set(name, id);
      }
      expect(new Set(idOf.values()).size).toBe(names.length);
      await backend.eventually(() => {
        for (const r of registries) {
          expect(
            r
              .applications()
              .map((app) => app.name)
              .sort(),
          ).toEqual([...names].sort());
          for (const [name, id] of idOf) expect(r.nameOf(id)).toBe(name);
        }
      });
    });

    it("refuses an empty or all-digit name, and knows nothing of unregistered ones", async () => {
      registries = await backend.start(1);
      const [r] = registries as [ApplicationRegistry];
      await expect(r.register("")).rejects.toBeInstanceOf(MastershipError);
      await expect(r.register("42")).rejects.toThrow(/not only digits/);
      expect(r.idOf("org.example.none")).toBeUndefined();
      expect(r.nameOf(4242)).toBeUndefined();
      expect(r.applications()).toEqual([]);
    });
  });
}
