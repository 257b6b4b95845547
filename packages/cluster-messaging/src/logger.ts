/** Structured context of a log line: peer, subject, reason… */
export type LogFields = Readonly<Record<string, unknown>>;

/** Severity of a log line, lowest first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/**
 * Where cluster messaging writes what happened: refused handshakes, dropped frames,
 * convicted nodes. Inject your own to route lines into the application's logger.
 */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/** One line a {@link createRecordingLogger} kept. */
export interface LogLine {
  readonly level: LogLevel;
  readonly message: string;
  readonly fields: LogFields;
}

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** A logger that drops every line. */
export const noopLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};

/** A logger that writes lines at `minLevel` and above to the console, one line each. */
export function consoleLogger(minLevel: LogLevel = "warn", prefix = "cluster"): Logger {
  const write = (level: LogLevel) => (message: string, fields?: LogFields) => {
    if (ORDER[level] < ORDER[minLevel]) return;
    const rest = fields === undefined ? "" : ` ${safeJson(fields)}`;
    const line = `[${prefix}] ${level.toUpperCase()} ${message}${rest}`;
    if (level === "error" || level === "warn") console.error(line);
    else console.log(line);
  };
  return { debug: write("debug"), info: write("info"), warn: write("warn"), error: write("error") };
}

/**
 * A logger that keeps every line in memory, for tests that check a reason was logged.
 *
 * @example
 * const { logger, lines } = createRecordingLogger();
 * // … run a node with `logger` …
 * lines.some((line) => line.message === "handshake refused");
 */
export function createRecordingLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const keep = (level: LogLevel) => (message: string, fields?: LogFields) => {
    lines.push({ level, message, fields: fields ?? {} });
  };
  return {
    lines,
    logger: { debug: keep("debug"), info: keep("info"), warn: keep("warn"), error: keep("error") },
  };
}

function safeJson(fields: LogFields): string {
  try {
    return JSON.stringify(fields, (_key, value: unknown) =>
      typeof value === "bigint" ? value.toString() : value instanceof Error ? value.message : value,
    );
  } catch {
    return "{…}";
  }
}
