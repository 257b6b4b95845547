import { flowstoreProject } from "@flowstore/vitest-config";

export default flowstoreProject("cluster-messaging");
