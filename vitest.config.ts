import { defineConfig } from "vitest/config";

// One vitest run over every package and app: `pnpm test` at the root.
export default defineConfig({
  test: {
    projects: ["packages/*", "apps/*", "tooling/pack-test"],
    reporters: ["default", "@flowstore/vitest-config/summary-reporter"],
    passWithNoTests: false,
  },
});
