// Request bodies of the Connect routes (Connect, gRPC, gRPC-Web), checked before Connect reads them, so that a
// client error is answered as one on every protocol:
// - a body over `max-body-bytes` is INVALID_ARGUMENT (HTTP 400 on Connect), not Connect's RESOURCE_EXHAUSTED
//   (HTTP 429, which invites clients to retry a request that can never succeed). The declared content-length is
//   not handed to Connect, which would refuse it with RESOURCE_EXHAUSTED before reading; the bytes are counted
//   instead. (Connect still applies the same limit to a compressed message once decompressed.)
// - an undecodable binary protobuf message is INVALID_ARGUMENT, as malformed JSON already is, not INTERNAL
//   (HTTP 500). Unary and server-streaming requests (one request message) are buffered, at most the limit, and
//   each uncompressed message is decoded with the method's input type first; Connect then decodes it again. A
//   message flagged compressed in a request that names no encoding is INVALID_ARGUMENT too, not INTERNAL.
//   Client- and bidi-streaming requests are passed through as they arrive.

import { fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { UniversalHandler, UniversalServerRequest } from "@connectrpc/connect/protocol";

function tooLarge(limit: number): ConnectError {
  return new ConnectError(`request body exceeds max-body-bytes (${limit} bytes)`, Code.InvalidArgument);
}

async function* limited(body: AsyncIterable<Uint8Array>, limit: number, declared: number): AsyncIterable<Uint8Array> {
  if (declared > limit) throw tooLarge(limit);
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > limit) throw tooLarge(limit);
    yield chunk;
  }
}

async function readAll(body: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let n = 0;
  for await (const c of body) {
    chunks.push(c);
    n += c.byteLength;
  }
  const out = new Uint8Array(n);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.byteLength;
  }
  return out;
}

const ENVELOPED_PROTO = ["application/grpc", "application/grpc+proto", "application/grpc-web", "application/grpc-web+proto", "application/connect+proto"];
const ENVELOPED_JSON = ["application/grpc+json", "application/grpc-web+json", "application/connect+json"];

/**
 * The messages of a body to decode before Connect does: the whole body (Connect unary binary), or each envelope
 * (gRPC, gRPC-Web, Connect streaming) whatever its other flag bits (Connect parses those payloads too). An
 * envelope flagged compressed in a request that names no encoding is refused here: Connect would call it INTERNAL.
 */
function binaryMessages(contentType: string, encoding: string | null, bytes: Uint8Array): Uint8Array[] | undefined {
  const type = contentType.split(";")[0].trim().toLowerCase();
  if (type === "application/proto") return [bytes];
  const proto = ENVELOPED_PROTO.includes(type);
  if (!proto && !ENVELOPED_JSON.includes(type)) return undefined; // JSON: Connect already answers INVALID_ARGUMENT
  const out: Uint8Array[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let off = 0; off + 5 <= bytes.byteLength; ) {
    const flags = bytes[off];
    const len = view.getUint32(off + 1);
    const end = off + 5 + len;
    if (end > bytes.byteLength) break; // truncated: Connect reports it
    if (flags & 0b1) {
      if (encoding === null || encoding === "" || encoding.toLowerCase() === "identity") {
        throw new ConnectError("a message is flagged compressed, but the request names no encoding", Code.InvalidArgument);
      }
    } else if (proto) out.push(bytes.subarray(off + 5, end));
    off = end;
  }
  return out;
}

/** Wraps a Connect handler so that oversized and undecodable request bodies are INVALID_ARGUMENT. */
export function guardRequests(handler: UniversalHandler, maxBodyBytes: number): UniversalHandler {
  const kind = handler.method.methodKind;
  const buffered = kind === "unary" || kind === "server_streaming";
  const guarded = async (req: UniversalServerRequest) => {
    const body = req.body;
    if (typeof body !== "object" || body === null || !(Symbol.asyncIterator in body)) return handler(req);
    const declared = Number(req.header.get("content-length") ?? "0");
    req.header.delete("content-length");
    const stream = limited(body as AsyncIterable<Uint8Array>, maxBodyBytes, Number.isFinite(declared) ? declared : 0);
    if (!buffered) return handler({ ...req, body: stream });
    let bytes: Uint8Array | undefined;
    let error: unknown;
    try {
      bytes = await readAll(stream);
      const encoding = req.header.get("grpc-encoding") ?? req.header.get("connect-content-encoding");
      for (const m of binaryMessages(req.header.get("content-type") ?? "", encoding, bytes) ?? []) {
        try {
          fromBinary(handler.method.input, m);
        } catch (e) {
          throw new ConnectError(`request is not a valid ${handler.method.input.typeName}: ${(e as Error).message}`, Code.InvalidArgument);
        }
      }
    } catch (e) {
      error = e;
    }
    // Hand Connect a body that replays the bytes, or raises the error where Connect reads the body, so that
    // Connect answers it in the request's protocol.
    const replay = (async function* () {
      if (error !== undefined) throw error;
      yield bytes!;
    })();
    return handler({ ...req, body: replay });
  };
  return Object.assign(guarded, {
    requestPath: handler.requestPath,
    method: handler.method,
    service: handler.service,
    protocolNames: handler.protocolNames,
    allowedMethods: handler.allowedMethods,
    supportedContentType: handler.supportedContentType,
  }) as UniversalHandler;
}
