import { flowstoreProject } from "@flowstore/vitest-config";

// Building, packing and installing take a minute or two on a busy 2-core machine.
export default flowstoreProject("pack", { testTimeout: 240_000, hookTimeout: 240_000 });
