// Checks that a package's README shows its examples exactly as the files the typecheck
// compiles and the tests run, so the README's code cannot rot.
import { readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * The fenced ```ts code blocks of a Markdown text, in order, each without its fences.
 * @param {string} markdown
 * @returns {string[]}
 */
export function typescriptBlocks(markdown) {
  const blocks = [];
  const fence = /^```ts\n([\s\S]*?)^```$/gm;
  for (let match = fence.exec(markdown); match !== null; match = fence.exec(markdown)) {
    blocks.push(match[1] ?? "");
  }
  return blocks;
}

/**
 * The code of `examples/<file>` and the README's ```ts blocks, both read from `packageDir`.
 * @param {string} packageDir the package's folder
 * @param {string} file the example's file name under `examples/`
 * @returns {{ example: string, blocks: string[] }}
 */
export function readmeExample(packageDir, file) {
  return {
    example: readFileSync(join(packageDir, "examples", file), "utf8"),
    blocks: typescriptBlocks(readFileSync(join(packageDir, "README.md"), "utf8")),
  };
}
