export type { BucketHead, PersistenceHeader } from "./codecs.js";
export {
  BucketChangesSchema,
  BucketHeadSchema,
  FORMAT,
  PersistenceHeaderSchema,
  persistenceNamespace,
} from "./codecs.js";
export type {
  FlowPersistenceOptions,
  PersistedDevice,
  PersistenceLog,
  PersistenceStats,
} from "./flowPersistence.js";
export { FlowPersistence } from "./flowPersistence.js";
export { LoadedBucket } from "./loadedBucket.js";
export type { PersistenceErrorCode, PersistenceErrorOptions } from "./persistenceError.js";
export { PersistenceError } from "./persistenceError.js";
export type { BucketChange } from "./staging.js";
