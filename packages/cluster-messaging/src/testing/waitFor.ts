/**
 * Polls `check` every `intervalMs` until it returns something other than `undefined` or
 * `false` (a throw counts as "not yet"), for at most `timeoutMs`; resolves with that value,
 * or rejects naming `what` and the last error.
 *
 * @example
 * await waitFor("n2 ACTIVE", () => node.membership.state(n2) === "ACTIVE");
 * const master = await waitFor("a master", async () => (await get("/master")).body, 30_000);
 */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 20_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() >= deadline) {
      const reason = last === undefined ? "" : `: ${String(last)}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${reason}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
