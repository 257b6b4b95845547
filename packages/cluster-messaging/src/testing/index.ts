// `@flowstore/cluster-messaging/testing`: helpers for tests of this package and of the
// packages and apps built on it, imported from here rather than copied.
export { consecutiveFreePorts } from "./consecutiveFreePorts.js";
export { waitFor } from "./waitFor.js";
