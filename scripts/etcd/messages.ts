// The few etcd v3 API messages scripts/vs-etcd.ts uses, by their field numbers in etcd's
// etcdserver/etcdserverpb/rpc.proto and mvcc/mvccpb/kv.proto (v3.4; these fields are the same in
// every v3 release). Only the fields the benchmark reads are decoded; the rest are skipped, as
// protobuf allows.

import { ProtoError, ProtoReader, ProtoWriter } from "./proto.ts";

/** gRPC method paths (service etcdserverpb.KV and etcdserverpb.Maintenance). */
export const etcdMethods = {
  put: "/etcdserverpb.KV/Put",
  range: "/etcdserverpb.KV/Range",
  status: "/etcdserverpb.Maintenance/Status",
} as const;

export interface ResponseHeader {
  readonly clusterId: bigint;
  readonly memberId: bigint;
  readonly revision: number;
  readonly raftTerm: number;
}

export interface KeyValue {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
}

export interface RangeResponse {
  readonly header: ResponseHeader;
  readonly kvs: KeyValue[];
  readonly count: number;
}

export interface StatusResponse {
  readonly header: ResponseHeader;
  readonly version: string;
  /** Member id of the leader, as this member sees it (0: none known). */
  readonly leader: bigint;
  readonly raftIndex: number;
  readonly raftTerm: number;
}

/** PutRequest { bytes key = 1; bytes value = 2; int64 lease = 3; bool prev_kv = 4; ... } */
export function encodePutRequest(key: Uint8Array, value: Uint8Array): Uint8Array {
  if (key.length === 0) throw new ProtoError("etcd keys are not empty");
  return new ProtoWriter().bytes(1, key).bytes(2, value).finish();
}

/** RangeRequest { bytes key = 1; bytes range_end = 2; int64 limit = 3; ...; bool serializable = 7 }.
 * Without range_end it looks up one key; without serializable the read is linearizable (the
 * default: etcd confirms leadership with a ReadIndex round before it answers). */
export function encodeRangeRequest(key: Uint8Array, opts: { serializable?: boolean } = {}): Uint8Array {
  if (key.length === 0) throw new ProtoError("etcd keys are not empty");
  return new ProtoWriter().bytes(1, key).bool(7, opts.serializable ?? false).finish();
}

/** StatusRequest {} */
export function encodeStatusRequest(): Uint8Array {
  return new Uint8Array(0);
}

/** ResponseHeader { uint64 cluster_id = 1; uint64 member_id = 2; int64 revision = 3; uint64 raft_term = 4 } */
export function decodeResponseHeader(bytes: Uint8Array): ResponseHeader {
  const r = new ProtoReader(bytes);
  let clusterId = 0n;
  let memberId = 0n;
  let revision = 0;
  let raftTerm = 0;
  while (r.next()) {
    if (r.field === 1) clusterId = r.uint64();
    else if (r.field === 2) memberId = r.uint64();
    else if (r.field === 3) revision = r.number();
    else if (r.field === 4) raftTerm = r.number();
    else r.skip();
  }
  return { clusterId, memberId, revision, raftTerm };
}

const emptyHeader: ResponseHeader = { clusterId: 0n, memberId: 0n, revision: 0, raftTerm: 0 };

/** KeyValue { bytes key = 1; int64 create_revision = 2; int64 mod_revision = 3; int64 version = 4; bytes value = 5; int64 lease = 6 } */
export function decodeKeyValue(bytes: Uint8Array): KeyValue {
  const r = new ProtoReader(bytes);
  let key = new Uint8Array(0);
  let value = new Uint8Array(0);
  let createRevision = 0;
  let modRevision = 0;
  let version = 0;
  while (r.next()) {
    if (r.field === 1) key = r.bytes().slice();
    else if (r.field === 2) createRevision = r.number();
    else if (r.field === 3) modRevision = r.number();
    else if (r.field === 4) version = r.number();
    else if (r.field === 5) value = r.bytes().slice();
    else r.skip();
  }
  return { key, value, createRevision, modRevision, version };
}

/** PutResponse { ResponseHeader header = 1; KeyValue prev_kv = 2 } */
export function decodePutResponse(bytes: Uint8Array): { header: ResponseHeader } {
  const r = new ProtoReader(bytes);
  let header = emptyHeader;
  while (r.next()) {
    if (r.field === 1) header = decodeResponseHeader(r.bytes());
    else r.skip();
  }
  return { header };
}

/** RangeResponse { ResponseHeader header = 1; repeated KeyValue kvs = 2; bool more = 3; int64 count = 4 } */
export function decodeRangeResponse(bytes: Uint8Array): RangeResponse {
  const r = new ProtoReader(bytes);
  let header = emptyHeader;
  const kvs: KeyValue[] = [];
  let count = 0;
  while (r.next()) {
    if (r.field === 1) header = decodeResponseHeader(r.bytes());
    else if (r.field === 2) kvs.push(decodeKeyValue(r.bytes()));
    else if (r.field === 4) count = r.number();
    else r.skip();
  }
  return { header, kvs, count };
}

/** StatusResponse { ResponseHeader header = 1; string version = 2; int64 dbSize = 3; uint64 leader = 4;
 * uint64 raftIndex = 5; uint64 raftTerm = 6; ... } */
export function decodeStatusResponse(bytes: Uint8Array): StatusResponse {
  const r = new ProtoReader(bytes);
  let header = emptyHeader;
  let version = "";
  let leader = 0n;
  let raftIndex = 0;
  let raftTerm = 0;
  while (r.next()) {
    if (r.field === 1) header = decodeResponseHeader(r.bytes());
    else if (r.field === 2) version = r.string();
    else if (r.field === 4) leader = r.uint64();
    else if (r.field === 5) raftIndex = r.number();
    else if (r.field === 6) raftTerm = r.number();
    else r.skip();
  }
  return { header, version, leader, raftIndex, raftTerm };
}
