// Shared vitest settings for every flowstore package. Plain JavaScript so that vitest can
// load it from a config file without a compile step.
import { defineProject } from "vitest/config";

/** Export conditions that make workspace packages resolve to their TypeScript source. */
const conditions = ["@flowstore/source", "module", "node", "development|production"];

/**
 * The vitest project of one workspace package.
 * @param {string} name the project's name in the vitest summary
 * @param {import("vitest/config").TestProjectInlineConfiguration["test"]} [test] overrides
 */
export function flowstoreProject(name, test = {}) {
  return defineProject({
    resolve: { conditions },
    ssr: { resolve: { conditions, externalConditions: ["@flowstore/source"] } },
    test: {
      name,
      environment: "node",
      include: ["src/**/*.test.ts"],
      testTimeout: 20_000,
      hookTimeout: 60_000,
      ...test,
    },
  });
}
