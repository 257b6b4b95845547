export type { Channel, ChannelSpec, TypedInbound } from "./channel.js";
export { createChannel } from "./channel.js";
export type { ClusterConfig } from "./clusterConfig.js";
export { ClusterConfigSchema, ControllerNodeSchema, parseClusterConfig } from "./clusterConfig.js";
export type { ClusterNode, ClusterNodeOptions } from "./clusterNode.js";
export { DEFAULT_REQUEST_TIMEOUT_MS } from "./clusterNode.js";
export type { ReplyStatus } from "./frame.js";
export { DEFAULT_MAX_FRAME_BYTES, FrameError } from "./frame.js";
export { freePorts } from "./freePorts.js";
export type { Hello } from "./handshake.js";
export { clusterNameHash, PROTOCOL_VERSION } from "./handshake.js";
export type { LogFields, Logger, LogLevel, LogLine } from "./logger.js";
export { consoleLogger, createRecordingLogger, noopLogger } from "./logger.js";
export type { ClusterMembership, MembershipEvent, NodeState } from "./membership.js";
export type { LinkConditions, MemoryNetwork, MemoryNetworkOptions } from "./memoryNetwork.js";
export { createMemoryNetwork } from "./memoryNetwork.js";
export type {
  ClusterMessaging,
  InboundMessage,
  RefusalStatus,
  RequestHandler,
  RequestOptions,
} from "./messaging.js";
export type { MessagingErrorCode } from "./messagingError.js";
export { MessagingError } from "./messagingError.js";
export type { ControllerNode, NodeId } from "./node.js";
export { NodeIdSchema, nodeId } from "./node.js";
export type { FailureDetectorOptions } from "./phiAccrualFailureDetector.js";
export {
  DEFAULT_FAILURE_DETECTOR,
  PhiAccrualFailureDetector,
  phiOf,
} from "./phiAccrualFailureDetector.js";
export type { Random } from "./random.js";
export { createRandom } from "./random.js";
export type { ReconnectOptions } from "./tcp/dialer.js";
export type { TlsSettings } from "./tcp/sockets.js";
export type { TcpCluster, TcpClusterOptions } from "./tcpCluster.js";
export { createTcpCluster } from "./tcpCluster.js";
