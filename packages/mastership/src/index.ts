export type {
  EmbeddedCoordinator,
  EmbeddedCoordinatorOptions,
  EmbeddedViewOptions,
} from "./embeddedMastership.js";
export { createEmbeddedCoordinator } from "./embeddedMastership.js";
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
