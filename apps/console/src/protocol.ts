// The node's console protocol, one definition: the node sends it, the page reads it.
export type * from "../../node/src/console/protocol";
