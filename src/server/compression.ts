// Response compression is negotiated per call (gzip and br, Connect's default threshold of 1 KiB): a caller that
// accepts an encoding gets responses above the threshold compressed. Except on a loopback connection (the
// embedded quick start, `kubectl port-forward`, a sidecar, the benchmarks): there compression saves no network
// and costs both ends CPU — a ListReservations page of 100 (~50 KB of protobuf) spent ~0.5 ms in gzip on the
// server and ~0.4 ms in gunzip on the client, a fifth of the call. The protocols let a server answer
// uncompressed whatever the caller accepts; compressed requests are still decoded.

import type { UniversalHandler, UniversalServerRequest } from "@connectrpc/connect/protocol";
import { REMOTE_ADDRESS, isLoopback } from "./access.js";

/** The request headers through which a caller accepts response encodings: Connect unary, Connect streaming, gRPC and gRPC-Web. */
const ACCEPT_ENCODING_HEADERS = ["accept-encoding", "connect-accept-encoding", "grpc-accept-encoding"];

/** Wraps a Connect handler so that a caller on a loopback address gets its responses uncompressed. */
export function uncompressedOnLoopback(handler: UniversalHandler): UniversalHandler {
  const wrapped = (req: UniversalServerRequest) => {
    if (isLoopback(req.contextValues?.get(REMOTE_ADDRESS))) for (const h of ACCEPT_ENCODING_HEADERS) req.header.delete(h);
    return handler(req);
  };
  return Object.assign(wrapped, {
    requestPath: handler.requestPath,
    method: handler.method,
    service: handler.service,
    protocolNames: handler.protocolNames,
    allowedMethods: handler.allowedMethods,
    supportedContentType: handler.supportedContentType,
  }) as UniversalHandler;
}
