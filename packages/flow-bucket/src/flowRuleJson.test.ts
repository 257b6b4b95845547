import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createFlowEntry, flowEntryToJson } from "./flowEntry.js";
import { createFlowRule, sameFlowRule } from "./flowRule.js";
import { FlowRuleError } from "./flowRuleError.js";
import {
  flowRuleToJson,
  parseFlowRule,
  parseFlowRuleFast,
  parseFlowRuleReference,
} from "./flowRuleJson.js";
import { flowRule } from "./testing/arbitraries.js";
import { onosCriteria, onosTreatment } from "./testing/onosArbitraries.js";

const onosFlow = {
  priority: 40000,
  timeout: 0,
  isPermanent: true,
  deviceId: "of:0000000000000001",
  tableId: 0,
  appId: 12,
  selector: {
    criteria: [
      { type: "IPV4_DST", ip: "10.0.0.7/24" },
      { type: "ETH_TYPE", ethType: "0x800" },
      { type: "IN_PORT", port: 1 },
    ],
  },
  treatment: {
    instructions: [
      { type: "L2MODIFICATION", subtype: "VLAN_ID", vlanId: 10 },
      { type: "OUTPUT", port: "CONTROLLER" },
    ],
  },
};

function refusal(json: unknown, defaults = {}): FlowRuleError {
  try {
    parseFlowRule(json, defaults);
  } catch (error) {
    if (error instanceof FlowRuleError) return error;
    throw error;
  }
  throw new Error("expected a FlowRuleError");
}

describe("parseFlowRule", () => {
  it("reads ONOS REST flow JSON, normalizing criteria and sorting them by type", () => {
    const rule = parseFlowRule(onosFlow);
    expect(rule.deviceId).toBe("of:0000000000000001");
    expect(rule.appId).toBe(12);
    expect(rule.priority).toBe(40000);
    expect(rule.permanent).toBe(true);
    expect(rule.criteria).toEqual([
      { type: "ETH_TYPE", ethType: 0x800 },
      { type: "IN_PORT", port: 1 },
      { type: "IPV4_DST", ip: "10.0.0.0/24" },
    ]);
    expect(rule.treatment.instructions).toEqual([
      { type: "L2MODIFICATION", subtype: "VLAN_ID", vlanId: 10 },
      // ONOS numbers reserved ports below zero: CONTROLLER is -3.
      { type: "OUTPUT", port: -3 },
    ]);
    expect(rule.id >> 48n).toBe(12n);
  });

  it("gives the same identity and id for every spelling of the same match", () => {
    const a = parseFlowRule(onosFlow);
    const b = parseFlowRule({
      ...onosFlow,
      selector: {
        criteria: [
          { type: "IN_PORT", port: "1" },
          { type: "ETH_TYPE", ethType: 2048 },
          { type: "IPV4_DST", ip: "10.0.0.0/24" },
        ],
      },
      treatment: { instructions: [] },
    });
    expect(sameFlowRule(a, b)).toBe(true);
    expect(b.id).toBe(a.id);
    // Another application: same identity, another id.
    const c = parseFlowRule({ ...onosFlow, appId: 13 });
    expect(sameFlowRule(a, c)).toBe(true);
    expect(c.id).not.toBe(a.id);
    expect(c.id & (2n ** 48n - 1n)).toBe(a.id & (2n ** 48n - 1n));
  });

  it("takes the device and application from the defaults; a disagreeing device is refused", () => {
    const { deviceId: _d, appId: _a, ...bare } = onosFlow;
    const rule = parseFlowRule(bare, { deviceId: "of:0000000000000002", appId: 7 });
    expect(rule.deviceId).toBe("of:0000000000000002");
    expect(rule.appId).toBe(7);
    expect(refusal(bare, { appId: 7 }).path).toBe("deviceId");
    expect(refusal(bare, { deviceId: "of:1" }).path).toBe("appId");
    const clash = refusal(onosFlow, { deviceId: "of:0000000000000009" });
    expect(clash.code).toBe("INVALID_FIELD");
    expect(clash.message).toMatch(/^deviceId: /);
  });

  it.each([
    [
      "a bad EtherType",
      { selector: { criteria: [{ type: "ETH_TYPE", ethType: "ipv4" }] } },
      "selector.criteria[0].ethType",
      "INVALID_FIELD",
    ],
    [
      "an unknown criterion type",
      { selector: { criteria: [{ type: "ETH_TYP", ethType: "0x800" }] } },
      "selector.criteria[0].type",
      "UNKNOWN_TYPE",
    ],
    [
      "a bad prefix",
      { selector: { criteria: [{ type: "IPV4_SRC", ip: "10.0.0.300/8" }] } },
      "selector.criteria[0].ip",
      "INVALID_FIELD",
    ],
    [
      "a missing field of a criterion",
      { selector: { criteria: [{ type: "TCP_DST" }] } },
      "selector.criteria[0].tcpPort",
      "MISSING_FIELD",
    ],
    [
      "a duplicate criterion",
      {
        selector: {
          criteria: [
            { type: "ETH_TYPE", ethType: "0x800" },
            { type: "ETH_TYPE", ethType: "0x806" },
          ],
        },
      },
      "selector.criteria[1].type",
      "INVALID_FIELD",
    ],
    [
      "an unknown instruction subtype",
      { treatment: { instructions: [{ type: "L2MODIFICATION", subtype: "VLAN_TWIST" }] } },
      "treatment.instructions[0].subtype",
      "UNKNOWN_TYPE",
    ],
    [
      "a bad output port",
      { treatment: { instructions: [{ type: "OUTPUT", port: "SOMEWHERE" }] } },
      "treatment.instructions[0].port",
      "INVALID_FIELD",
    ],
    ["a priority out of range", { priority: 70000 }, "priority", "INVALID_FIELD"],
    ["a priority of the wrong type", { priority: "high" }, "priority", "INVALID_FIELD"],
    ["a missing isPermanent", { isPermanent: undefined }, "isPermanent", "MISSING_FIELD"],
    [
      "a temporary rule with no timeout",
      { isPermanent: false, timeout: undefined },
      "timeout",
      "INVALID_FIELD",
    ],
  ])("refuses %s, naming the field", (_what, change, path, code) => {
    const error = refusal({ ...onosFlow, ...change });
    expect(error.path).toBe(path);
    expect(error.code).toBe(code);
    expect(error.message.startsWith(`${path}: `)).toBe(true);
  });

  it("refuses what is not an object", () => {
    for (const json of [null, 42, "flow", [onosFlow]]) {
      expect(refusal(json).path).toBe("");
    }
  });

  it("reads back what flowRuleToJson writes, for any rule", () => {
    fc.assert(
      fc.property(flowRule(), (rule) => {
        const back = parseFlowRule(JSON.parse(JSON.stringify(flowRuleToJson(rule))));
        expect(back).toEqual(rule);
      }),
      { numRuns: 300 },
    );
  });
});

describe("flowEntryToJson", () => {
  it("has ONOS's REST output shape", () => {
    const rule = createFlowRule({
      deviceId: "of:0000000000000001",
      appId: 1,
      priority: 10,
      permanent: false,
      timeout: 30,
      criteria: [{ type: "ETH_TYPE", ethType: "0x806" }],
      treatment: { instructions: [{ type: "OUTPUT", port: 3 }] },
    });
    const entry = createFlowEntry(rule, {
      created: 1_700_000_000_000,
      state: "ADDED",
      packets: 5,
      bytes: 320,
      life: 12,
      lastSeen: 1_700_000_012_000,
    });
    expect(flowEntryToJson(entry)).toEqual({
      id: rule.id.toString(),
      tableId: 0,
      appId: 1,
      priority: 10,
      timeout: 30,
      hardTimeout: 0,
      isPermanent: false,
      deviceId: "of:0000000000000001",
      tableName: "0",
      state: "ADDED",
      life: 12,
      liveType: "UNKNOWN",
      lastSeen: 1_700_000_012_000,
      packets: 5,
      bytes: 320,
      treatment: { instructions: [{ type: "OUTPUT", port: "3" }], deferred: [] },
      selector: { criteria: [{ type: "ETH_TYPE", ethType: "0x806" }] },
    });
    expect(JSON.stringify(flowEntryToJson(entry))).toContain(`"id":"${rule.id}"`);
  });
});

describe("createFlowRule", () => {
  it("refuses bad fields with a FlowRuleError naming them", () => {
    expect(() =>
      createFlowRule({
        deviceId: "of:1",
        appId: 1,
        priority: 1,
        criteria: [{ type: "ETH_DST", mac: "not-a-mac" }],
      }),
    ).toThrow(/^criteria\[0\]\.mac: expected a MAC address/);
    expect(() => createFlowRule({ deviceId: "", appId: 1, priority: 1 })).toThrow(FlowRuleError);
    expect(() => createFlowRule({ deviceId: "of:1", appId: 65536, priority: 1 })).toThrow(
      /^appId: /,
    );
  });

  it("normalizes addresses: IPv6 to RFC 5952, MACs upper case, host bits cleared", () => {
    const rule = createFlowRule({
      deviceId: "of:1",
      appId: 1,
      priority: 1,
      criteria: [
        { type: "IPV6_DST", ip: "2001:0DB8:0000:0000:0000:0000:0000:0001/64" },
        { type: "ETH_SRC", mac: "aa:bb:cc:dd:ee:0f" },
        { type: "IPV4_SRC", ip: "192.168.1.77" },
      ],
    });
    expect(rule.criteria).toEqual([
      { type: "ETH_SRC", mac: "AA:BB:CC:DD:EE:0F" },
      { type: "IPV4_SRC", ip: "192.168.1.77/32" },
      { type: "IPV6_DST", ip: "2001:db8::/64" },
    ]);
  });
});

describe("sharing", () => {
  it("rules share small-valued criteria, treatments and device ids, not addresses", () => {
    const make = (json: unknown) => parseFlowRule(JSON.parse(JSON.stringify(json)));
    const a = make(onosFlow);
    const b = make({ ...onosFlow, priority: 1 });
    expect(a).not.toBe(b);
    expect(a.deviceId).toBe(b.deviceId);
    expect(a.treatment).toBe(b.treatment);
    const ethType = (r: typeof a) => r.criteria.find((c) => c.type === "ETH_TYPE");
    expect(ethType(a)).toBe(ethType(b));
    const dst = (r: typeof a) => r.criteria.find((c) => c.type === "IPV4_DST");
    expect(dst(a)).not.toBe(dst(b));
    expect(dst(a)).toEqual(dst(b));
    // Shared objects cannot be changed through one rule behind the others' backs.
    expect(Object.isFrozen(a.treatment)).toBe(true);
    expect(Object.isFrozen(ethType(a))).toBe(true);
  });
});

describe("the fast path", () => {
  /** What a caller sees: the rule, or the refusal's message. */
  const outcome = (parse: () => unknown) => {
    try {
      return { rule: parse() };
    } catch (error) {
      return { error: error instanceof FlowRuleError ? error.message : String(error) };
    }
  };
  const agrees = (json: unknown, defaults: Parameters<typeof parseFlowRule>[1]) => {
    const copy = () => JSON.parse(JSON.stringify(json)) as unknown;
    const fast = parseFlowRuleFast(copy(), defaults ?? {});
    const reference = outcome(() => parseFlowRuleReference(copy(), defaults));
    if (fast !== undefined) expect({ rule: fast }).toEqual(reference);
    expect(outcome(() => parseFlowRule(copy(), defaults))).toEqual(reference);
  };

  it("takes rules as ONOS writes them and gives what the whole schema gives", () => {
    const json = { ...onosFlow, appId: undefined };
    const fast = parseFlowRuleFast(JSON.parse(JSON.stringify(json)), { appId: 12 });
    expect(fast).toBeDefined();
    expect(fast).toEqual(parseFlowRuleReference(json, { appId: 12 }));
    // The shared parts are the very objects the schema's rule holds.
    const reference = parseFlowRuleReference(json, { appId: 12 });
    expect(fast?.treatment).toBe(reference.treatment);
    expect(fast?.deviceId).toBe(reference.deviceId);
  });

  it("agrees with the whole schema on every rule flowstore prints", () => {
    fc.assert(
      fc.property(flowRule(), (rule) => {
        const { appId: _appId, ...json } = flowRuleToJson(rule);
        agrees(json, { appId: rule.appId });
        expect(parseFlowRuleFast(JSON.parse(JSON.stringify(json)), { appId: rule.appId })).toEqual(
          parseFlowRule(json, { appId: rule.appId }),
        );
      }),
      { numRuns: 300 },
    );
  });

  it("agrees with the whole schema on lenient spellings, rare types and bad values", () => {
    const maybeText = <T>(value: fc.Arbitrary<T>) => fc.oneof(value, value.map(String));
    const field = <T>(value: fc.Arbitrary<T>) =>
      fc.oneof({ weight: 4, arbitrary: value }, fc.constantFrom(undefined, null, -1, "x", 1.5));
    fc.assert(
      fc.property(
        fc.record({
          priority: field(maybeText(fc.integer({ min: 0, max: 0x1ffff }))),
          tableId: field(maybeText(fc.integer({ min: 0, max: 300 }))),
          isPermanent: field(fc.oneof(fc.boolean(), fc.constantFrom("true", "false"))),
          timeout: field(maybeText(fc.integer({ min: 0, max: 0x1ffff }))),
          hardTimeout: field(fc.integer({ min: 0, max: 0x1ffff })),
          deviceId: fc.constantFrom(undefined, "of:0000000000000001", "of:2", "", "a b"),
          selector: fc.oneof(
            { weight: 6, arbitrary: onosCriteria.map((criteria) => ({ criteria })) },
            fc.constantFrom(undefined, null, {}, { criteria: null }, []),
          ),
          treatment: fc.oneof(
            { weight: 6, arbitrary: onosTreatment },
            fc.constantFrom(undefined, null, {}, { clearDeferred: "yes" }),
          ),
        }),
        fc.record(
          {
            appId: fc.constantFrom(1, 70_000),
            deviceId: fc.constantFrom("of:0000000000000001", "of:3"),
          },
          { requiredKeys: [] },
        ),
        (json, defaults) => agrees(json, defaults),
      ),
      { numRuns: 1_000 },
    );
  });

  it("agrees on criteria out of order, twice, or with lenient values", () => {
    const criteria = [
      [
        { type: "IPV4_DST", ip: "10.0.0.7/24" },
        { type: "ETH_TYPE", ethType: "2048" },
      ],
      [
        { type: "ETH_TYPE", ethType: "0x800" },
        { type: "ETH_TYPE", ethType: "0x800" },
      ],
      [
        { type: "ETH_DST", mac: "aa:bb:cc:dd:ee:ff" },
        { type: "IN_PORT", port: "CONTROLLER" },
      ],
      [
        { type: "VLAN_VID", vlanId: "ANY" },
        { type: "ETH_TYPE", ethType: "0x88cc" },
      ],
      [{ type: "ETH_TYPE", ethType: "0x1ffff" }],
      [{ type: "IPV4_DST", ip: "10.0.0.300/24" }],
      [{ type: "NOT_A_TYPE" }],
    ];
    for (const list of criteria) {
      agrees({ ...onosFlow, appId: undefined, selector: { criteria: list } }, { appId: 3 });
    }
  });
});
