import { describe, expect, it } from "vitest";
import { createEmbeddedApplicationRegistry } from "./embeddedApplicationRegistry.js";
import { MastershipError } from "./mastership.js";
import { describeApplicationRegistryBehaviour } from "./testing/applicationRegistrySuite.js";

describeApplicationRegistryBehaviour({
  name: "embedded",
  start: async (count) => {
    // Nodes of one process share the one registry.
    const shared = createEmbeddedApplicationRegistry();
    return Array.from({ length: count }, () => shared);
  },
  eventually: async (check) => check(),
});

describe("embedded application registry", () => {
  it("gives ids from 1 in registration order and refuses registrations once closed", async () => {
    const registry = createEmbeddedApplicationRegistry();
    expect(await registry.register("org.onosproject.rest")).toBe(1);
    expect(await registry.register("org.onosproject.core")).toBe(2);
    expect(registry.applications()).toEqual([
      { id: 1, name: "org.onosproject.rest" },
      { id: 2, name: "org.onosproject.core" },
    ]);
    await registry.close();
    await expect(registry.register("org.example.late")).rejects.toBeInstanceOf(MastershipError);
  });
});
