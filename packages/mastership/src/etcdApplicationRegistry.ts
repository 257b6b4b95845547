import { Etcd3, type IOptions, type Watcher } from "etcd3";
import {
  type ApplicationRegistry,
  ApplicationTable,
  checkApplicationName,
  MAX_APPLICATION_ID,
} from "./applicationRegistry.js";
import { MastershipError } from "./mastership.js";

/** Options of {@link createEtcdApplicationRegistry}. */
export interface EtcdApplicationRegistryOptions {
  /** etcd client URLs, e.g. `["http://127.0.0.1:2379"]`. */
  readonly endpoints: readonly string[];
  /** Key prefix of the registry; default `/flowstore/applications/`. */
  readonly prefix?: string;
  /** Extra options for the `etcd3` client (hosts are taken from `endpoints`). */
  readonly clientOptions?: Omit<IOptions, "hosts">;
}

/** How many times a registration retries a transaction another node's registration beat. */
const MAX_ATTEMPTS = 64;

/**
 * An {@link ApplicationRegistry} in etcd: one key per application, `<prefix>a/<name>` → id,
 * and `<prefix>next`, the next free id. A new name is allocated by one transaction that
 * succeeds only if the name is still absent and `next` has not moved since it was read, and
 * then writes both: two nodes registering at once get one id each, never the same one, and
 * a name registered twice keeps its first id. Every node watches the prefix for its copy.
 */
export async function createEtcdApplicationRegistry(
  options: EtcdApplicationRegistryOptions,
): Promise<ApplicationRegistry> {
  const raw = options.prefix ?? "/flowstore/applications/";
  const prefix = raw.endsWith("/") ? raw : `${raw}/`;
  const namesPrefix = `${prefix}a/`;
  const nextKey = `${prefix}next`;
  const client = new Etcd3({
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + 5000 }),
    ...options.clientOptions,
    hosts: [...options.endpoints],
  });
  const table = new ApplicationTable();
  const apply = (key: string, value: string) => {
    if (!key.startsWith(namesPrefix)) return;
    const id = Number(value);
    if (!(Number.isInteger(id) && id > 0 && id <= MAX_APPLICATION_ID)) return;
    try {
      table.set(key.slice(namesPrefix.length), id);
    } catch {
      // Keys edited by hand behind the registry's back: the first mapping seen stays, so
      // flow ids already made keep their meaning on this node.
    }
  };
  let watcher: Watcher | undefined;
  let closed = false;
  try {
    const snapshot = await client.getAll().prefix(namesPrefix).exec();
    for (const kv of snapshot.kvs) apply(kv.key.toString(), kv.value.toString());
    watcher = await client
      .watch()
      .prefix(namesPrefix)
      .startRevision(String(Number(snapshot.header.revision) + 1))
      .create();
    watcher.on("put", (kv) => apply(kv.key.toString(), kv.value.toString()));
  } catch (error) {
    client.close();
    throw new MastershipError(
      "UNAVAILABLE",
      `cannot read applications from etcd at ${options.endpoints.join(", ")}`,
      { cause: error },
    );
  }

  const register = async (name: string): Promise<number> => {
    if (closed) throw new MastershipError("CLOSED", "the application registry is closed");
    checkApplicationName(name);
    const known = table.idOf(name);
    if (known !== undefined) return known;
    const key = `${namesPrefix}${name}`;
    try {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const [existing, next] = await Promise.all([
          client.get(key).string(),
          client.kv.range({ key: Buffer.from(nextKey) }),
        ]);
        if (existing !== null) {
          apply(key, existing);
          return Number(existing);
        }
        const nextKv = next.kvs[0];
        const id = nextKv === undefined ? 1 : Number(nextKv.value.toString());
        if (!(id >= 1 && id <= MAX_APPLICATION_ID)) {
          throw new MastershipError("UNAVAILABLE", `no application id is left for ${name}`);
        }
        const { succeeded } = await client
          .if(key, "Create", "==", 0)
          .and(nextKey, "Mod", "==", nextKv === undefined ? 0 : Number(nextKv.mod_revision))
          .then(client.put(key).value(String(id)), client.put(nextKey).value(String(id + 1)))
          .commit();
        if (succeeded) {
          apply(key, String(id));
          return id;
        }
      }
    } catch (error) {
      if (error instanceof MastershipError) throw error;
      throw new MastershipError("UNAVAILABLE", `cannot register application ${name} in etcd`, {
        cause: error,
      });
    }
    throw new MastershipError(
      "UNAVAILABLE",
      `could not register ${name}: ${MAX_ATTEMPTS} concurrent registrations won first`,
    );
  };

  return {
    register,
    idOf: (name) => table.idOf(name),
    nameOf: (id) => table.nameOf(id),
    applications: () => table.list(),
    close: async () => {
      if (closed) return;
      closed = true;
      await watcher?.cancel();
      client.close();
    },
  };
}
