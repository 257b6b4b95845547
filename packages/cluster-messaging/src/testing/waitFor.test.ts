import { describe, expect, it } from "vitest";
import { waitFor } from "./index.js";

describe("waitFor", () => {
  it("resolves with the first value that is neither undefined nor false; throws count as not yet", async () => {
    const answers = [undefined, false, new Error("not up"), "up"];
    const seen: unknown[] = [];
    const value = await waitFor(
      "the service",
      async () => {
        const answer = answers.shift();
        seen.push(answer);
        if (answer instanceof Error) throw answer;
        return answer;
      },
      5_000,
      1,
    );
    expect(value).toBe("up");
    expect(seen).toHaveLength(4);
  });

  it("takes a plain condition and resolves true once it holds", async () => {
    let polls = 0;
    await expect(waitFor("three polls", () => ++polls >= 3, 5_000, 1)).resolves.toBe(true);
    expect(polls).toBe(3);
  });

  it("rejects naming what it waited for and the last error", async () => {
    await expect(
      waitFor(
        "the port",
        () => {
          throw new Error("ECONNREFUSED");
        },
        20,
        1,
      ),
    ).rejects.toThrow("timed out after 20 ms waiting for the port: Error: ECONNREFUSED");
  });
});
