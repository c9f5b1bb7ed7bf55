// Unary gRPC calls over one HTTP/2 connection (node:http2, which Bun implements natively), the
// way etcd's own Go client talks to a member: every request is a stream on the connection, many
// in flight at once. Enough of gRPC's HTTP/2 mapping for unary calls without compression:
// POST with content-type application/grpc and te: trailers, the message framed by a 5-byte prefix
// (compressed flag, big-endian length), the status in the trailers (grpc-status, grpc-message)
// or, for a trailers-only answer, in the response headers.

import http2 from "node:http2";

/** gRPC status codes the client acts on (https://grpc.github.io/grpc/core/md_doc_statuscodes.html). */
export const GrpcStatus = {
  ok: 0,
  deadlineExceeded: 4,
  unavailable: 14,
} as const;

/** etcd refuses messages above 1.5 MiB by default (--max-request-bytes); answers are bounded here
 * so that a broken stream cannot grow a buffer without end. */
const messageBytesMax = 16 * 1024 * 1024;
const framePrefixBytes = 5;

export class GrpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** A message with gRPC's length prefix (uncompressed). */
export function frameMessage(message: Uint8Array): Uint8Array {
  const out = new Uint8Array(framePrefixBytes + message.length);
  out[0] = 0;
  new DataView(out.buffer).setUint32(1, message.length, false);
  out.set(message, framePrefixBytes);
  return out;
}

/** The one message of a unary answer's body (its data frames, concatenated). */
export function unframeMessage(body: Uint8Array): Uint8Array {
  if (body.length < framePrefixBytes) throw new GrpcError(GrpcStatus.unavailable, `answer of ${body.length} bytes: no gRPC message`);
  if (body[0] !== 0) throw new GrpcError(GrpcStatus.unavailable, "compressed gRPC message: not asked for, not supported");
  const length = new DataView(body.buffer, body.byteOffset, body.byteLength).getUint32(1, false);
  if (framePrefixBytes + length !== body.length) {
    throw new GrpcError(GrpcStatus.unavailable, `gRPC message announces ${length} bytes, the body has ${body.length - framePrefixBytes}`);
  }
  return body.subarray(framePrefixBytes);
}

function headerText(value: string | string[] | number | undefined): string | undefined {
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(",") : String(value);
}

export class GrpcConnection {
  private closed = false;

  private constructor(
    readonly url: string,
    private readonly session: http2.ClientHttp2Session,
  ) {
    // A connection error fails the calls in flight (their streams error); nothing else to do.
    session.on("error", () => {});
  }

  /** Opens the connection (the HTTP/2 handshake done) or fails within `timeoutMs`. */
  static connect(url: string, timeoutMs = 3000): Promise<GrpcConnection> {
    return new Promise((resolve, reject) => {
      const session = http2.connect(url);
      const timer = setTimeout(() => {
        session.destroy();
        reject(new Error(`${url}: no HTTP/2 connection within ${timeoutMs} ms`));
      }, timeoutMs);
      session.once("connect", () => {
        clearTimeout(timer);
        resolve(new GrpcConnection(url, session));
      });
      session.once("error", (e) => {
        clearTimeout(timer);
        reject(new Error(`${url}: ${e.message}`));
      });
    });
  }

  /** One unary call: the answer's message bytes, or a GrpcError (status from the server, or
   * deadlineExceeded after `timeoutMs`, or unavailable when the stream broke). */
  call(path: string, request: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new GrpcError(GrpcStatus.unavailable, `${this.url}: connection closed`));
    return new Promise((resolve, reject) => {
      const stream = this.session.request({
        ":method": "POST",
        ":path": path,
        "content-type": "application/grpc",
        te: "trailers",
        "grpc-timeout": `${Math.max(1, Math.ceil(timeoutMs))}m`,
      });
      const chunks: Uint8Array[] = [];
      let size = 0;
      let status: string | undefined;
      let message: string | undefined;
      let httpStatus = 0;
      let settled = false;
      const finish = (error?: GrpcError, body?: Uint8Array) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error) reject(error);
        else resolve(body!);
      };
      const timer = setTimeout(() => {
        finish(new GrpcError(GrpcStatus.deadlineExceeded, `${path}: no answer within ${timeoutMs} ms`));
        stream.close(http2.constants.NGHTTP2_CANCEL);
      }, timeoutMs);
      stream.on("response", (headers) => {
        httpStatus = Number(headers[":status"] ?? 0);
        status = headerText(headers["grpc-status"]) ?? status; // trailers-only answer
        message = headerText(headers["grpc-message"]) ?? message;
      });
      stream.on("trailers", (trailers) => {
        status = headerText(trailers["grpc-status"]) ?? status;
        message = headerText(trailers["grpc-message"]) ?? message;
      });
      stream.on("data", (chunk: Uint8Array) => {
        size += chunk.length;
        if (size > messageBytesMax) {
          finish(new GrpcError(GrpcStatus.unavailable, `${path}: answer larger than ${messageBytesMax} bytes`));
          stream.close(http2.constants.NGHTTP2_CANCEL);
          return;
        }
        chunks.push(chunk);
      });
      stream.on("end", () => {
        if (httpStatus !== 200) return finish(new GrpcError(GrpcStatus.unavailable, `${path}: HTTP status ${httpStatus}`));
        const code = Number(status ?? GrpcStatus.unavailable);
        if (code !== GrpcStatus.ok) return finish(new GrpcError(code, `${path}: ${message ? decodeURIComponent(message) : `gRPC status ${code}`}`));
        try {
          finish(undefined, unframeMessage(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
        } catch (e) {
          finish(e as GrpcError);
        }
      });
      stream.on("error", (e) => finish(new GrpcError(GrpcStatus.unavailable, `${path}: ${e.message}`)));
      stream.on("close", () => finish(new GrpcError(GrpcStatus.unavailable, `${path}: stream closed before the answer`)));
      stream.end(frameMessage(request));
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.session.close();
  }
}
