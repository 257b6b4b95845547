import { readFile, stat } from "node:fs/promises";
import { extname, join, normalize, sep } from "node:path";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".map": "application/json",
  ".txt": "text/plain; charset=utf-8",
};

/** A file to send: its bytes and headers. */
export interface StaticFile {
  readonly body: Buffer;
  readonly headers: Record<string, string>;
}

/**
 * The built console's files, read from `root` once and kept in memory (the whole page is a
 * few hundred kilobytes). Unknown paths get `index.html`, so the page's own routes load it;
 * nothing outside `root` is ever read.
 */
export class StaticFiles {
  readonly #root: () => Promise<string>;
  readonly #cache = new Map<string, StaticFile | null>();
  /** The folder, once found (and built): asked for once, not on every request. */
  #folder: Promise<string> | undefined;

  /** @param root resolves with the folder to serve (after building it, if need be) */
  constructor(root: () => Promise<string>) {
    this.#root = root;
  }

  /** The file for the request path below the mount point (`""` or `"assets/x.js"`). */
  async get(path: string): Promise<StaticFile> {
    this.#folder ??= this.#root().catch((error: unknown) => {
      this.#folder = undefined; // a failed build is tried again on the next request
      throw error;
    });
    const root = await this.#folder;
    const relative = decodeURIComponent(path.split("?")[0] ?? "").replace(/^\/+/, "");
    const file = relative === "" ? "index.html" : relative;
    const found = await this.#read(root, file);
    if (found !== null) return found;
    const index = await this.#read(root, "index.html");
    if (index === null) throw new Error(`the console is not built: no index.html in ${root}`);
    return index;
  }

  async #read(root: string, file: string): Promise<StaticFile | null> {
    const key = `${root}\0${file}`;
    if (this.#cache.has(key)) return this.#cache.get(key) ?? null;
    const full = normalize(join(root, file));
    let result: StaticFile | null = null;
    if (full.startsWith(normalize(root + sep)) || full === normalize(root)) {
      const info = await stat(full).catch(() => undefined);
      if (info?.isFile()) {
        const body = await readFile(full);
        const immutable = file.startsWith("assets/");
        result = {
          body,
          headers: {
            "content-type": TYPES[extname(full)] ?? "application/octet-stream",
            "cache-control": immutable ? "public, max-age=31536000, immutable" : "no-cache",
          },
        };
      }
    }
    this.#cache.set(key, result);
    return result;
  }
}
