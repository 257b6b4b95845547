/** Log levels, least severe first. */
export const LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof LEVELS)[number];

/** A structured logger: one JSON object per line. */
export interface JsonLogger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  /** A logger that adds `fields` to every line. */
  child(fields: Record<string, unknown>): JsonLogger;
}

/** Writes JSON lines (`{"time","level","msg",…}`) at or above `level` to `write`. */
export function createJsonLogger(
  level: LogLevel,
  write: (line: string) => void = (line) => process.stdout.write(line),
  base: Record<string, unknown> = {},
): JsonLogger {
  const threshold = LEVELS.indexOf(level);
  const log =
    (at: LogLevel) =>
    (msg: string, fields: Record<string, unknown> = {}) => {
      if (LEVELS.indexOf(at) < threshold) return;
      const line = { time: new Date().toISOString(), level: at, msg, ...base, ...fields };
      write(
        `${JSON.stringify(line, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v))}\n`,
      );
    };
  return {
    debug: log("debug"),
    info: log("info"),
    warn: log("warn"),
    error: log("error"),
    child: (fields) => createJsonLogger(level, write, { ...base, ...fields }),
  };
}
