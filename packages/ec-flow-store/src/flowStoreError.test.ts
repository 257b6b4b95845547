import { MessagingError } from "@flowstore/cluster-messaging";
import { describe, expect, it } from "vitest";
import { FlowStoreError } from "./flowStoreError.js";

describe("FlowStoreError.from", () => {
  it("keeps a store error, and turns anything else into TIMEOUT or UNAVAILABLE with its cause", () => {
    const stale = new FlowStoreError("STALE_TERM", "term 3 was superseded");
    expect(FlowStoreError.from(stale, "batch n1:1")).toBe(stale);

    const silent = new MessagingError("TIMEOUT", "no reply within 5000 ms");
    const timedOut = FlowStoreError.from(silent, "master n2 did not answer");
    expect(timedOut).toMatchObject({
      code: "TIMEOUT",
      message: "master n2 did not answer: no reply within 5000 ms",
      cause: silent,
    });

    expect(
      FlowStoreError.from(new MessagingError("UNREACHABLE", "no connection"), "x"),
    ).toMatchObject({
      code: "UNAVAILABLE",
      message: "x: no connection",
    });
    expect(FlowStoreError.from("a string was thrown", "y")).toMatchObject({
      code: "UNAVAILABLE",
      message: "y: a string was thrown",
    });
  });
});
