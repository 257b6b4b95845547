import { MastershipError } from "./mastership.js";

/** An application as the cluster knows it: its name and the 16-bit id flow ids carry. */
export interface Application {
  readonly id: number;
  readonly name: string;
}

/** The highest application id (ids are 16 bits, inside every flow id). */
export const MAX_APPLICATION_ID = 0xffff;

/** The application REST-created flow rules belong to when the request names none (ONOS's). */
export const REST_APPLICATION = "org.onosproject.rest";

/**
 * Application names ↔ 16-bit ids, the same on every node of a cluster.
 *
 * @remarks The id is part of every flow id, so two nodes must never give one name two ids
 * (nor one id two names): the coordinator allocates them (in process for the embedded
 * backend; a transaction per new application in etcd). An id, once given, is never reused.
 * Lookups are synchronous from the node's copy, which `register` updates before it resolves.
 */
export interface ApplicationRegistry {
  /** The id of `name`, registering it with the next free id if it is new (ONOS's `registerApplication`). */
  register(name: string): Promise<number>;
  /** The id of `name`, if it is registered (as far as this node has heard). */
  idOf(name: string): number | undefined;
  /** The name of `id`, if some application has it. */
  nameOf(id: number): string | undefined;
  /** Every registered application, by id. */
  applications(): readonly Application[];
  /** Stops following the coordinator. */
  close(): Promise<void>;
}

/** A valid application name: 1–255 printable characters, not only digits (those are ids). */
export function checkApplicationName(name: string): void {
  if (
    typeof name !== "string" ||
    name.length === 0 ||
    name.length > 255 ||
    /^\d+$/.test(name) ||
    // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
    /[\u0000-\u001f\u007f]/.test(name)
  ) {
    throw new MastershipError(
      "INVALID_ARGUMENT",
      `an application name is 1–255 printable characters, not only digits: ${JSON.stringify(name)}`,
    );
  }
}

/** The names and ids one node knows, kept consistent in both directions. */
export class ApplicationTable {
  readonly #byName = new Map<string, number>();
  readonly #byId = new Map<number, string>();

  /** Records `name` ↔ `id`; a conflicting record is a broken invariant and throws. */
  set(name: string, id: number): void {
    const known = this.#byName.get(name);
    const owner = this.#byId.get(id);
    if ((known !== undefined && known !== id) || (owner !== undefined && owner !== name)) {
      throw new Error(
        `application ${name} = ${id} conflicts with ${name} = ${known} / ${owner} = ${id}`,
      );
    }
    this.#byName.set(name, id);
    this.#byId.set(id, name);
  }

  idOf(name: string): number | undefined {
    return this.#byName.get(name);
  }

  nameOf(id: number): string | undefined {
    return this.#byId.get(id);
  }

  /** The highest id given so far (0 when none). */
  highestId(): number {
    let max = 0;
    for (const id of this.#byId.keys()) if (id > max) max = id;
    return max;
  }

  list(): Application[] {
    return [...this.#byId].map(([id, name]) => ({ id, name })).sort((a, b) => a.id - b.id);
  }
}
