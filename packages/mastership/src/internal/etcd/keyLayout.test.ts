import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { nodeId } from "../../cluster.js";
import { createEtcdKeyLayout, prefixEnd } from "./keyLayout.js";

describe("etcd key layout", () => {
  const layout = createEtcdKeyLayout<string>("/flowstore/mastership");

  it("builds n/<node>, c/<key>/<node> and a/<key> under the prefix, which ends in /", () => {
    expect(layout.prefix).toBe("/flowstore/mastership/");
    expect(layout.node(nodeId("n1"))).toBe("/flowstore/mastership/n/n1");
    expect(layout.candidate("of:1", nodeId("n1"))).toBe("/flowstore/mastership/c/of:1/n1");
    expect(layout.activation("of:1")).toBe("/flowstore/mastership/a/of:1");
  });

  it("parses what it builds, keys with / included", () => {
    const nodes = fc.stringMatching(/^[A-Za-z0-9._-]{1,64}$/).map(nodeId);
    const keys = fc.string({ minLength: 1 }).filter((s) => !s.includes("\0"));
    fc.assert(
      fc.property(keys, nodes, (key, node) => {
        expect(layout.parse(layout.candidate(key, node))).toEqual({
          kind: "candidate",
          key,
          node,
        });
        expect(layout.parse(layout.node(node))).toEqual({ kind: "node", node });
        expect(layout.parse(layout.activation(key))).toEqual({ kind: "activation", key });
      }),
    );
    expect(layout.parse(layout.candidate("a/b", nodeId("n2")))).toEqual({
      kind: "candidate",
      key: "a/b",
      node: nodeId("n2"),
    });
  });

  it("leaves keys outside the layout unparsed", () => {
    expect(layout.parse("/flowstore/applications/a/rest")).toBeUndefined();
    expect(layout.parse("/flowstore/mastership/x/1")).toBeUndefined();
    expect(layout.parse("/flowstore/mastership/c/no-node")).toBeUndefined();
    expect(layout.parse("/flowstore/mastership/c//n1")).toBeUndefined();
  });

  it("ranges over exactly the keys under the prefix", () => {
    const { key, range_end } = layout.range();
    expect(key.toString()).toBe("/flowstore/mastership/");
    expect(range_end.toString()).toBe("/flowstore/mastership0");
    expect(Buffer.compare(Buffer.from(layout.node(nodeId("n1"))), range_end)).toBe(-1);
    expect(Buffer.compare(Buffer.from("/flowstore/mastership0"), range_end)).toBe(0);
  });

  it("ends a prefix of 0xff bytes at the end of the key space", () => {
    expect([...prefixEnd(Buffer.from([0x61, 0xff, 0xff]))]).toEqual([0x62]);
    expect([...prefixEnd(Buffer.from([0xff]))]).toEqual([0]);
  });
});
