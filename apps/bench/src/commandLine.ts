import { type ParseArgsConfig, parseArgs } from "node:util";

type Options = NonNullable<ParseArgsConfig["options"]>;

/**
 * `argv` parsed as `options` with positionals allowed, without the `--` pnpm passes on before
 * a script's arguments (`pnpm bench -- --full`).
 */
export function parseCommandLine<const O extends Options>(
  argv: readonly string[],
  options: O,
): ReturnType<typeof parseArgs<{ options: O; allowPositionals: true }>> {
  return parseArgs({ args: argv.filter((arg) => arg !== "--"), allowPositionals: true, options });
}
