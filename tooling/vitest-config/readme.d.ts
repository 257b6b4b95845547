/** The fenced ```ts code blocks of a Markdown text, in order, each without its fences. */
export declare function typescriptBlocks(markdown: string): string[];

/** The code of `examples/<file>` and the README's ```ts blocks, both read from `packageDir`. */
export declare function readmeExample(
  packageDir: string,
  file: string,
): { example: string; blocks: string[] };
