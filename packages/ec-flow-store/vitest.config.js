import { flowstoreProject } from "@flowstore/vitest-config";
export default flowstoreProject("ec-flow-store");
