import { describe, expect, it } from "vitest";
import { DEFAULT_FORM, errorsOfResponse, fieldOfPath, flowRequest } from "./flowForm";

describe("the add-flow form", () => {
  it("sends ONOS JSON, the application id in the query", () => {
    const request = flowRequest({ ...DEFAULT_FORM, appId: "org.example.app" });
    expect(request).toEqual({
      body: {
        priority: 40000,
        tableId: 0,
        isPermanent: true,
        selector: {
          criteria: [
            { type: "ETH_TYPE", ethType: "0x800" },
            { type: "IPV4_DST", ip: "10.0.0.1/32" },
          ],
        },
        treatment: { instructions: [{ type: "OUTPUT", port: "2" }] },
      },
      query: "?appId=org.example.app",
    });
  });

  it("leaves the checking of values to the REST API: a word stays a word", () => {
    const request = flowRequest({
      ...DEFAULT_FORM,
      priority: "high",
      permanent: false,
      timeout: "10",
    });
    expect("body" in request && request.body.priority).toBe("high");
    expect("body" in request && request.body.timeout).toBe(10);
  });

  it("names the field whose text is not JSON", () => {
    expect(flowRequest({ ...DEFAULT_FORM, treatment: "[{" })).toEqual({
      errors: { treatment: expect.stringContaining("treatment: not valid JSON") },
    });
  });

  it("shows a REST error at the field its path names", () => {
    expect(fieldOfPath("selector.criteria[0].ethType")).toBe("selector");
    expect(fieldOfPath("flows[0].treatment.instructions[1].port")).toBe("treatment");
    expect(fieldOfPath("priority")).toBe("priority");
    expect(fieldOfPath("isPermanent")).toBe("permanent");
    expect(fieldOfPath("appId")).toBe("appId");
    expect(fieldOfPath(undefined)).toBe("form");
    expect(
      errorsOfResponse(400, {
        code: 400,
        message: "selector.criteria[0].ethType: expected an EtherType",
        path: "selector.criteria[0].ethType",
      }),
    ).toEqual({ selector: "selector.criteria[0].ethType: expected an EtherType" });
    expect(errorsOfResponse(503, { code: 503, message: "no master" })).toEqual({
      form: "no master",
    });
  });
});
