import { readFileSync } from "node:fs";
import { createFlowEntry, type FlowEntry, parseFlowRule } from "@flowstore/flow-bucket";
import { RecordWriter } from "@flowstore/serializers";
import { Packr } from "msgpackr";
import { describe, expect, it } from "vitest";
import { RecordCodec } from "./recordCodec.js";
import { RecordScanner } from "./recordScanner.js";
import { testDevice, testEntry } from "./testing/tables.js";

/** msgpackr as `RecordCodec` sets it up, over a shape list the writer and scanner share. */
function setUp() {
  const structures: string[][] = [];
  const packr = new Packr({
    useRecords: true,
    mapsAsObjects: false,
    int64AsType: "bigint",
    moreTypes: false,
    structures,
    maxSharedStructures: 1024,
    saveStructures: () => true,
  });
  return {
    packr,
    writer: new RecordWriter(structures),
    scanner: new RecordScanner(structures),
    /** msgpackr's bytes, behind the two bytes of a type id, as the writer gives them. */
    typed(value: unknown): Buffer {
      return Buffer.concat([Buffer.from([0, 210]), packr.pack(value)]);
    },
  };
}

/** Entries of rules with every criterion and instruction of ONOS's codec tests. */
function fixtureEntries(): FlowEntry[] {
  const read = (name: string) =>
    JSON.parse(
      readFileSync(new URL(`../../flow-bucket/src/fixtures/onos/${name}`, import.meta.url), "utf8"),
    );
  return ["criteria-flow.json", "instructions-flow.json", "post-flow.json", "sigid-flow.json"].map(
    (name, i) =>
      createFlowEntry(
        parseFlowRule(read(name), { appId: 3 + i, deviceId: "of:0000000000000001" }),
        {
          created: 1_700_000_000_123.5,
        },
      ),
  );
}

describe("RecordWriter", () => {
  it("writes stored entries byte for byte as msgpackr does, once msgpackr has met their shapes", () => {
    const { packr, writer, typed } = setUp();
    const entries = [...fixtureEntries(), ...[0, 1, 2].map((i) => testEntry(testDevice(1), i))];
    expect(writer.write(210, entries)).toBeUndefined(); // no shapes yet: left to msgpackr
    const expected = typed(entries);
    expect(Buffer.from(writer.write(210, entries)!)).toEqual(expected);
    expect(packr.unpack(writer.write(210, entries)!.subarray(2))).toEqual(entries);
  });

  it("writes numbers, bigints, strings and lists with the headers msgpackr picks", () => {
    const { writer, typed } = setUp();
    const ascii = (n: number) => "a".repeat(n);
    const values: unknown[] = [
      ...[0, 0x3f, 0x40, 0x7f, 0xff, 0x100, 0xffff, 0x10000, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1],
      ...[-1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, 1.5, -0.25],
      ...[Number.POSITIVE_INFINITY, Number.NaN, true, false, null],
      ...[0n, 1n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n, -5n, -(2n ** 63n)],
      ...["", "é", "€", "𝄞", "ab€", "\ud800", "a\udc00b\ud83d", ascii(31), ascii(32), ascii(255)],
      ...[ascii(65535), ascii(65536), `${ascii(30)}é`, `${ascii(254)}€`, "€".repeat(100)],
      [],
      Array.from({ length: 15 }, (_, i) => i),
      Array.from({ length: 16 }, (_, i) => i),
      Array.from({ length: 70_000 }, () => 1),
    ];
    for (const value of values) {
      expect(Buffer.from(writer.write(210, [value])!), String(value).slice(0, 40)).toEqual(
        typed([value]),
      );
    }
  });

  it("leaves to msgpackr what it does not write: new shapes, undefined, maps, typed arrays, huge bigints", () => {
    const { writer } = setUp();
    for (const value of [
      { a: 1 },
      undefined,
      new Map([[1, 2]]),
      new Uint8Array(2),
      2n ** 64n,
      -(2n ** 63n) - 1n,
      Object.create(null),
      () => 1,
    ]) {
      expect(writer.write(210, [value])).toBeUndefined();
    }
  });

  it("writes record ids from the 33rd shape on in two bytes, as msgpackr does", () => {
    const { packr, writer, typed } = setUp();
    const objects = Array.from({ length: 40 }, (_, i) => ({ [`k${i}`]: i, v: `s${i}` }));
    packr.pack(objects); // msgpackr meets the 40 shapes
    expect(Buffer.from(writer.write(210, objects)!)).toEqual(typed(objects));
    expect(packr.unpack(writer.write(210, objects)!.subarray(2))).toEqual(objects);
  });
});

describe("RecordScanner", () => {
  /** Where msgpackr says each element of the list in `bytes` (after a type id) lies. */
  function unpacked(packr: Packr, bytes: Uint8Array) {
    const out: { value: unknown; from: number; to: number }[] = [];
    const head = bytes[2]!;
    const offset = 2 + (head <= 0x9f ? 1 : head === 0xdc ? 3 : 5);
    packr.unpackMultiple(bytes.subarray(offset), (value: unknown, from?: number, to?: number) => {
      out.push({ value, from: offset + (from ?? 0), to: offset + (to ?? 0) });
    });
    return out;
  }

  it.each([
    ["its first shapes", 0],
    ["shapes past the 32nd (two-byte record ids)", 40],
  ])(
    "finds each entry's bytes and flow id where msgpackr does, in bases and change records, with %s",
    (_, before) => {
      const { packr, scanner } = setUp();
      packr.pack(Array.from({ length: before }, (_, i) => ({ [`k${i}`]: i })));
      const entries = [...fixtureEntries(), ...[0, 1, 2].map((i) => testEntry(testDevice(1), i))];
      const removed = [5n, 2n ** 63n + 7n];
      for (const [changes, value] of [
        [false, entries],
        [true, [removed, ...entries]],
        [true, [[], ...entries]],
      ] as const) {
        const bytes = Buffer.concat([Buffer.from([0, 210]), packr.pack(value)]);
        const scanned = scanner.scan(bytes, 2, bytes.length, changes)!;
        const expected = unpacked(packr, bytes).slice(changes ? 1 : 0);
        expect(scanned.removed).toEqual(changes ? value[0] : []);
        expect(scanned.entries.map(({ id, from, to }) => ({ id, from, to }))).toEqual(
          expected.map(({ value, from, to }) => ({ id: (value as FlowEntry).rule.id, from, to })),
        );
      }
    },
  );

  it("is unsure, and says so, of bytes that end early, an extension, or an entry without a flow id", () => {
    const { packr, scanner } = setUp();
    const entries = [testEntry(testDevice(1), 1), testEntry(testDevice(1), 2)];
    const bytes = Buffer.concat([Buffer.from([0, 210]), packr.pack(entries)]);
    for (let cut = 3; cut < bytes.length; cut += 7) {
      expect(scanner.scan(bytes.subarray(0, cut), 2, cut, false)).toBeUndefined();
    }
    const withUndefined = Buffer.concat([Buffer.from([0, 210]), packr.pack([undefined])]);
    expect(scanner.scan(withUndefined, 2, withUndefined.length, false)).toBeUndefined();
    const noRule = Buffer.concat([Buffer.from([0, 210]), packr.pack([{ state: "ADDED" }])]);
    expect(scanner.scan(noRule, 2, noRule.length, false)).toBeUndefined();
    const negative = Buffer.concat([Buffer.from([0, 210]), packr.pack([[-1n]])]);
    expect(scanner.scan(negative, 2, negative.length, true)).toBeUndefined();
  });

  it("gives RecordCodec the same compaction as unpacking did: a base spliced from scanned entries decodes to the entries", () => {
    const codec = new RecordCodec();
    const entries = fixtureEntries().sort((a, b) => (a.rule.id < b.rule.id ? -1 : 1));
    codec.encodeBase(entries); // the shapes, learnt through msgpackr
    const base = codec.encodeBase(entries);
    const scanned = codec.scanRecord(base);
    expect(scanned.entries.map((e) => e.id)).toEqual(entries.map((e) => e.rule.id));
    const spliced = codec.spliceBase(scanned.entries);
    expect(Buffer.from(spliced)).toEqual(Buffer.from(base));
    expect(codec.decodeRecord(spliced).entries).toEqual(entries);
  });
});
