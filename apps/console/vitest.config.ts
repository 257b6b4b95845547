import { flowstoreProject } from "@flowstore/vitest-config";

// The end-to-end tests start a three-node cluster and a browser: minutes, not seconds.
export default flowstoreProject("console", { testTimeout: 120_000, hookTimeout: 300_000 });
