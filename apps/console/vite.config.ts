import { defineConfig } from "vite";

// The console is served by every node at /ui/ from the files this build writes to dist/.
// `pnpm --filter @flowstore/console dev` serves it with hot reload against a node on 8181.
const node = "http://127.0.0.1:8181";

export default defineConfig({
  base: "/ui/",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    reportCompressedSize: false,
  },
  server: {
    proxy: { "/onos": node, "/ui/api": node },
  },
});
