import { flowstoreProject } from "@flowstore/vitest-config";

export default flowstoreProject("flow-persistence");
