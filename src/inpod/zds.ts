/**
 * ZDS framing (Istio's node agent <-> ztunnel protocol, proto/istio/workload/zds).
 *
 * Istio sends one protobuf message per SOCK_SEQPACKET packet with the pod
 * netns fd as SCM_RIGHTS ancillary data. Node can do neither, so ambit runs
 * the same messages over a SOCK_STREAM unix socket, each prefixed by its
 * length (4 bytes, big endian), and passes the netns as a path in
 * `AddWorkload.netns_path`. See docs/platform.md ("Node agent protocol").
 */

import type { Socket } from 'node:net';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { AmbitError, errorMessage } from '../core/errors.js';
import {
  type WorkloadRequest,
  WorkloadRequestSchema,
  type WorkloadResponse,
  WorkloadResponseSchema,
  type ZdsHello,
  ZdsHelloSchema,
} from '../gen/istio/workload/zds/zds_pb.js';
import { InpodErrors } from './errors.js';

export {
  type AddWorkload,
  type DelWorkload,
  Version as ZdsVersion,
  type WorkloadInfo,
  type WorkloadRequest,
  WorkloadRequestSchema,
  type WorkloadResponse,
  WorkloadResponseSchema,
  type ZdsHello,
  ZdsHelloSchema,
} from '../gen/istio/workload/zds/zds_pb.js';

/** A ZDS message is small (a uid, names, a path); anything larger is garbage. */
export const MAX_FRAME_BYTES = 64 * 1024;

export function frame(payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(4 + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.set(payload, 4);
  return out;
}

export const encodeRequest = (m: WorkloadRequest): Buffer =>
  frame(toBinary(WorkloadRequestSchema, m));
export const encodeResponse = (m: WorkloadResponse): Buffer =>
  frame(toBinary(WorkloadResponseSchema, m));
export const encodeHello = (m: ZdsHello): Buffer => frame(toBinary(ZdsHelloSchema, m));

export function ackFrame(error = ''): Buffer {
  return encodeResponse(
    create(WorkloadResponseSchema, { payload: { case: 'ack', value: { error } } }),
  );
}

/**
 * Splits a byte stream into frames and decodes each with `decode`. A frame
 * over {@link MAX_FRAME_BYTES} or one that does not decode is a protocol
 * error (AMBIT_INPOD_ZDS_MALFORMED): `onError` is called once and nothing more
 * is delivered; the owner resets the connection.
 */
export function readFrames<T>(
  socket: Socket,
  decode: (bytes: Uint8Array, index: number) => T,
  onMessage: (m: T) => void,
  onError: (err: AmbitError) => void,
): void {
  let buf: Buffer = Buffer.alloc(0);
  let index = 0;
  let failed = false;
  socket.on('data', (chunk: Buffer) => {
    if (failed) return;
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    while (buf.length >= 4) {
      const len = buf.readUInt32BE(0);
      if (len > MAX_FRAME_BYTES) {
        failed = true;
        onError(
          new AmbitError(
            InpodErrors.ZDS_MALFORMED,
            `ZDS frame of ${len} bytes exceeds ${MAX_FRAME_BYTES}`,
          ),
        );
        return;
      }
      if (buf.length < 4 + len) return;
      const body = buf.subarray(4, 4 + len);
      buf = buf.subarray(4 + len);
      let msg: T;
      try {
        msg = decode(body, index++);
      } catch (err) {
        failed = true;
        onError(
          new AmbitError(InpodErrors.ZDS_MALFORMED, `undecodable ZDS frame: ${errorMessage(err)}`, {
            cause: err,
          }),
        );
        return;
      }
      onMessage(msg);
    }
  });
}

export const decodeRequest = (b: Uint8Array): WorkloadRequest =>
  fromBinary(WorkloadRequestSchema, b);
export const decodeResponse = (b: Uint8Array): WorkloadResponse =>
  fromBinary(WorkloadResponseSchema, b);
export const decodeHello = (b: Uint8Array): ZdsHello => fromBinary(ZdsHelloSchema, b);
