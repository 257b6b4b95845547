import type { Buffer } from "node:buffer";
import * as net from "node:net";
import * as tls from "node:tls";
import type { ControllerNode } from "../node.js";

/** TLS material of a node; with `mutual`, connecting peers must present a certificate the CA signed. */
export interface TlsSettings {
  /** The node's private key (PEM). */
  readonly key: string | Buffer;
  /** The node's certificate (PEM), shown to peers in both directions. */
  readonly cert: string | Buffer;
  /** Trusted CA certificates (PEM); peers' certificates must chain to one. */
  readonly ca: string | Buffer | readonly (string | Buffer)[];
  /** Require and verify a client certificate on inbound connections. */
  readonly mutual?: boolean;
  /** Overrides the host-name check of the peer's certificate (default: Node's check). */
  readonly checkServerIdentity?: (host: string, cert: tls.PeerCertificate) => Error | undefined;
}

/** A server whose connections are plain TCP, or TLS when `settings` is given. */
export function createServer(
  settings: TlsSettings | undefined,
  accept: (socket: net.Socket) => void,
): net.Server {
  return settings === undefined
    ? net.createServer(accept)
    : tls.createServer(
        {
          key: settings.key,
          cert: settings.cert,
          ca: settings.ca as string | Buffer | (string | Buffer)[],
          requestCert: settings.mutual === true,
          rejectUnauthorized: settings.mutual === true,
        },
        accept,
      );
}

/** Opens a socket to `node` (TLS when `settings` is given); `ready` runs once it can carry the handshake. */
export function connectSocket(
  node: ControllerNode,
  settings: TlsSettings | undefined,
  ready: () => void,
): net.Socket {
  if (settings === undefined) {
    const socket = net.connect({ host: node.host, port: node.port }, ready);
    socket.setNoDelay(true);
    return socket;
  }
  const socket = tls.connect(
    {
      host: node.host,
      port: node.port,
      key: settings.key,
      cert: settings.cert,
      ca: settings.ca as string | Buffer | (string | Buffer)[],
      ...(settings.checkServerIdentity === undefined
        ? {}
        : { checkServerIdentity: settings.checkServerIdentity }),
    },
    ready,
  );
  socket.setNoDelay(true);
  return socket;
}
