// The one waitFor lives in @flowstore/cluster-messaging/testing; import it from there.
export { waitFor } from "@flowstore/cluster-messaging/testing";
