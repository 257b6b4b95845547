import type { DeviceId } from "@flowstore/flow-bucket";
import { PersistenceError } from "../persistenceError.js";

/** Which device and bucket a record is of. */
export interface RecordPlace {
  readonly device: DeviceId;
  readonly bucket: number;
}

/** A `CORRUPT` error about `dir`, naming what is wrong and, if known, where. */
export function corrupt(
  dir: string,
  detail: string,
  place: { device?: string; bucket?: number; cause?: unknown } = {},
): PersistenceError {
  return new PersistenceError("CORRUPT", `${dir} is unreadable: ${detail}`, { dir, ...place });
}

/** Decodes one record of a bucket; a failure is a `CORRUPT` error naming where it is. */
export function decodeRecord<T>(dir: string, where: RecordPlace, what: string, decode: () => T): T {
  try {
    return decode();
  } catch (cause) {
    throw corrupt(dir, `a stored ${what} of ${describe(where)} is unreadable: ${message(cause)}`, {
      ...where,
      cause,
    });
  }
}

/** `bucket 3 of device of:…`. */
export function describe(where: RecordPlace): string {
  return `bucket ${where.bucket} of device ${where.device}`;
}

/** The message of an error, or the value as text. */
export function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
