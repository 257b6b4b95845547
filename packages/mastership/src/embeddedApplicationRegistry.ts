import {
  type ApplicationRegistry,
  ApplicationTable,
  checkApplicationName,
  MAX_APPLICATION_ID,
} from "./applicationRegistry.js";
import { MastershipError } from "./mastership.js";

/**
 * An {@link ApplicationRegistry} in process: one instance shared by every node of the process
 * (`--local N`, tests), so they see one table. Ids are given from 1 up, in registration order.
 */
export function createEmbeddedApplicationRegistry(): ApplicationRegistry {
  const table = new ApplicationTable();
  let closed = false;
  return {
    register: async (name) => {
      if (closed) throw new MastershipError("CLOSED", "the application registry is closed");
      checkApplicationName(name);
      const known = table.idOf(name);
      if (known !== undefined) return known;
      const id = table.highestId() + 1;
      if (id > MAX_APPLICATION_ID) {
        throw new MastershipError("UNAVAILABLE", `no application id is left for ${name}`);
      }
      table.set(name, id);
      return id;
    },
    idOf: (name) => table.idOf(name),
    nameOf: (id) => table.nameOf(id),
    applications: () => table.list(),
    close: async () => {
      closed = true;
    },
  };
}
