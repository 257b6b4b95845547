import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { BasicAuth } from "./context.js";
import { HttpError } from "./errors.js";

/** ONOS's default REST credentials, accepted as well whenever `--auth` is on. */
export const ONOS_DEFAULT_AUTH: BasicAuth = { user: "onos", password: "rocks" };

/**
 * An `onRequest` hook that requires HTTP Basic credentials — `accepted` or ONOS's
 * `onos:rocks` — on every route `guarded(url)` says; otherwise a 401 with a challenge.
 */
export function basicAuthHook(accepted: BasicAuth, guarded: (url: string) => boolean) {
  const digest = (text: string) => createHash("sha256").update(text).digest();
  const allowed = [accepted, ONOS_DEFAULT_AUTH].map((a) => digest(`${a.user}:${a.password}`));
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (!guarded(request.url)) return;
    const header = request.headers.authorization ?? "";
    const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
    if (match !== null) {
      const given = digest(Buffer.from(match[1]!, "base64").toString("utf8"));
      // Compare with every accepted pair, in constant time each.
      let ok = false;
      for (const a of allowed) ok = timingSafeEqual(a, given) || ok;
      if (ok) return;
    }
    reply.header("www-authenticate", 'Basic realm="flowstore"');
    throw new HttpError("UNAUTHORIZED", "authentication required: HTTP Basic user:password");
  };
}
