import { type DestinationStream, type Logger, pino } from "pino";
import pretty from "pino-pretty";

/** Log levels, least severe first. */
export const LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof LEVELS)[number];

/** A structured logger: a message and fields, one JSON object per line. */
export interface JsonLogger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  /** A logger that adds `fields` to every line. */
  child(fields: Record<string, unknown>): JsonLogger;
  /** The pino logger underneath (fastify logs through it). */
  readonly pino: Logger;
}

/** Where log lines go: a function given each line, or a pino destination. */
export type LogOutput = ((line: string) => void) | DestinationStream;

/**
 * A pino logger writing JSON lines — `{"level":"info","time":"…","msg":"…",…fields}` — at
 * or above `level` to `output` (default: stdout).
 */
export function createJsonLogger(level: LogLevel, output?: LogOutput): JsonLogger {
  const destination: DestinationStream | undefined =
    typeof output === "function" ? { write: (line: string) => output(line) } : output;
  const logger = pino(
    {
      level,
      base: null,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination(1),
  );
  return wrap(logger);
}

/** JSON lines on a pipe, coloured single lines on a terminal (pino-pretty). */
export function createProcessLogger(level: LogLevel): JsonLogger {
  if (process.stdout.isTTY !== true) return createJsonLogger(level);
  return createJsonLogger(
    level,
    pretty({ colorize: true, singleLine: true, translateTime: "SYS:HH:MM:ss.l" }),
  );
}

function wrap(logger: Logger): JsonLogger {
  return {
    debug: (message, fields) => logger.debug(fields ?? {}, message),
    info: (message, fields) => logger.info(fields ?? {}, message),
    warn: (message, fields) => logger.warn(fields ?? {}, message),
    error: (message, fields) => logger.error(fields ?? {}, message),
    child: (fields) => wrap(logger.child(fields)),
    pino: logger,
  };
}
