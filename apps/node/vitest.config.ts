import { flowstoreProject } from "@flowstore/vitest-config";

export default flowstoreProject("node", { testTimeout: 120_000 });
