export type { Application, ApplicationRegistry } from "./applicationRegistry.js";
export {
  checkApplicationName,
  MAX_APPLICATION_ID,
  REST_APPLICATION,
} from "./applicationRegistry.js";
export { createEmbeddedApplicationRegistry } from "./embeddedApplicationRegistry.js";
export type {
  EmbeddedCoordinator,
  EmbeddedCoordinatorOptions,
  EmbeddedViewOptions,
} from "./embeddedMastership.js";
export { createEmbeddedCoordinator } from "./embeddedMastership.js";
export type { EtcdApplicationRegistryOptions } from "./etcdApplicationRegistry.js";
export { createEtcdApplicationRegistry } from "./etcdApplicationRegistry.js";
export type { EtcdMastership, EtcdMastershipOptions } from "./etcdMastership.js";
export { createEtcdMastership } from "./etcdMastership.js";
export type {
  Mastership,
  MastershipErrorCode,
  MastershipEvent,
  MastershipEventType,
  MastershipRole,
  ReplicaInfo,
  TermActivation,
} from "./mastership.js";
export { MastershipError, NO_REPLICA_INFO } from "./mastership.js";
