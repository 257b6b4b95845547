#!/usr/bin/env node
// Runs the node in this very process, from any directory: the built `dist/` when there is
// one, otherwise the TypeScript source through tsx registered here, with the workspace's
// source condition — so the PID an operator sees is the node's, and every signal
// (SIGTERM, SIGINT, kill -9) reaches the node itself.
import { existsSync } from "node:fs";
import { register as registerHooks } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const built = join(root, "dist", "src", "cli.js");

if (existsSync(built)) {
  await import(pathToFileURL(built).href);
} else {
  // Resolved from this file, not from the working directory.
  const { register } = await import("tsx/esm/api");
  register({ tsconfig: join(root, "tsconfig.json") });
  // Registered last, so it runs first: every resolution (the workspace packages' `exports`)
  // sees the `@flowstore/source` condition, which points at their `src/index.ts`.
  const withSourceCondition = [
    "export async function resolve(specifier, context, next) {",
    "  const conditions = context.conditions.includes('@flowstore/source')",
    "    ? context.conditions : [...context.conditions, '@flowstore/source'];",
    "  return next(specifier, { ...context, conditions });",
    "}",
  ].join("\n");
  registerHooks(`data:text/javascript,${encodeURIComponent(withSourceCondition)}`);
  await import(pathToFileURL(join(root, "src", "cli.ts")).href);
}
