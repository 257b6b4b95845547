import type { Logger } from "@flowstore/cluster-messaging";
import type { JsonLogger } from "./logger.js";

/** Cluster messaging's and the store's log lines, as JSON lines with a component field. */
export function componentLogger(log: JsonLogger, component: string): Logger {
  const child = log.child({ component });
  return {
    debug: (message, fields) => child.debug(message, { ...fields }),
    info: (message, fields) => child.info(message, { ...fields }),
    warn: (message, fields) => child.warn(message, { ...fields }),
    error: (message, fields) => child.error(message, { ...fields }),
  };
}
