import type { TestProjectInlineConfiguration, UserWorkspaceConfig } from "vitest/config";

/** The vitest project of one workspace package, with flowstore's shared settings. */
export declare function flowstoreProject(
  name: string,
  test?: TestProjectInlineConfiguration["test"],
): UserWorkspaceConfig;
