// UDP on libc sockets through bun:ffi, built for a replica's hot loop: every buffer, sockaddr and
// message header is preallocated and its pointer computed once, so sending and receiving a
// datagram allocates nothing. Sends are queued and leave in one sendmmsg; receives are drained in
// one recvmmsg (ELECTRODE.md: a syscall costs ~1.1 us here, sendmmsg of 64 is 4x sendto's rate).

import { ptr } from "bun:ffi";
import {
  AF_INET,
  EADDRINUSE,
  EADDRNOTAVAIL,
  EACCES,
  EINTR,
  errno,
  errnoName,
  iovec,
  libc,
  mmsghdr,
  MSG_DONTWAIT,
  POLLIN,
  pollfd,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  sockaddrIn,
  SOL_SOCKET,
  SO_RCVBUF,
  SO_RCVBUFFORCE,
  SO_SNDBUF,
  SO_SNDBUFFORCE,
} from "../../ffi/libc.ts";

/** An IPv4 endpoint: ip as an unsigned 32-bit number (a.b.c.d = a<<24|...), port in host order. */
export interface Addr {
  ip: number;
  port: number;
}

export class NetError extends Error {
  constructor(
    readonly errno: number,
    message: string,
  ) {
    super(message);
  }
}

const ipv4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function parseIp(text: string): number {
  const m = ipv4.exec(text);
  if (!m) throw new NetError(22, `not an IPv4 address: '${text}'`);
  const octets = m.slice(1).map(Number);
  if (octets.some((o) => o > 255)) throw new NetError(22, `not an IPv4 address: '${text}'`);
  return ((octets[0]! << 24) | (octets[1]! << 16) | (octets[2]! << 8) | octets[3]!) >>> 0;
}

export function formatIp(ip: number): string {
  return `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
}

export function parseAddr(text: string): Addr {
  const colon = text.lastIndexOf(":");
  const port = Number(text.slice(colon + 1));
  if (colon < 0 || !/^\d{1,5}$/.test(text.slice(colon + 1)) || port > 65535) {
    throw new NetError(22, `expected IPv4:port, got '${text}'`);
  }
  return { ip: parseIp(text.slice(0, colon)), port };
}

export function formatAddr(addr: Addr): string {
  return `${formatIp(addr.ip)}:${addr.port}`;
}

/** A number that identifies an endpoint, for Map keys and comparisons. */
export function addrKey(addr: Addr): number {
  return addr.ip * 65536 + addr.port;
}

const slotBytes = 2048;
const batchMax = 64;

/** A ring of preallocated datagram slots with sockaddrs, iovecs and mmsghdrs wired together. */
class MessageSlots {
  readonly data = new Uint8Array(slotBytes * batchMax);
  readonly names = new Uint8Array(sockaddrIn.size * batchMax);
  readonly iovecs = new Uint8Array(iovec.size * batchMax);
  readonly headers = new Uint8Array(mmsghdr.size * batchMax);
  readonly namesView = new DataView(this.names.buffer);
  readonly iovecsView = new DataView(this.iovecs.buffer);
  readonly headersView = new DataView(this.headers.buffer);
  readonly headersPtr: number;
  /** Slot i's bytes, made once: handing out a fresh subarray per datagram would allocate. */
  readonly slots: Uint8Array[] = [];

  constructor() {
    const dataPtr = ptr(this.data);
    const namesPtr = ptr(this.names);
    const iovecsPtr = ptr(this.iovecs);
    this.headersPtr = ptr(this.headers);
    for (let i = 0; i < batchMax; i++) {
      this.slots.push(this.data.subarray(i * slotBytes, (i + 1) * slotBytes));
      this.iovecsView.setBigUint64(i * iovec.size + iovec.base, BigInt(dataPtr + i * slotBytes), true);
      this.iovecsView.setBigUint64(i * iovec.size + iovec.len, BigInt(slotBytes), true);
      const h = i * mmsghdr.size + mmsghdr.hdr;
      this.headersView.setBigUint64(h + 0, BigInt(namesPtr + i * sockaddrIn.size), true); // msg_name
      this.headersView.setUint32(h + 8, sockaddrIn.size, true); // msg_namelen
      this.headersView.setBigUint64(h + 16, BigInt(iovecsPtr + i * iovec.size), true); // msg_iov
      this.headersView.setBigUint64(h + 24, 1n, true); // msg_iovlen
    }
  }

  setName(i: number, addr: Addr): void {
    const at = i * sockaddrIn.size;
    this.namesView.setUint16(at + sockaddrIn.family, AF_INET, true);
    this.namesView.setUint16(at + sockaddrIn.port, addr.port, false);
    this.namesView.setUint32(at + sockaddrIn.addr, addr.ip, false);
  }

  readName(i: number, into: Addr): void {
    const at = i * sockaddrIn.size;
    into.port = this.namesView.getUint16(at + sockaddrIn.port, false);
    into.ip = this.namesView.getUint32(at + sockaddrIn.addr, false);
  }

  setLength(i: number, len: number): void {
    this.iovecsView.setBigUint64(i * iovec.size + iovec.len, BigInt(len), true);
  }
}

export interface SocketOptions {
  readonly rcvbufBytes?: number;
  readonly sndbufBytes?: number;
}

export class UdpSocket {
  /** Datagrams dropped because the socket buffer was full (EAGAIN/ENOBUFS) or the peer unreachable. */
  sendDrops = 0;
  /** sendto/sendmmsg calls made, and the datagrams they handed to the kernel. */
  sendSyscalls = 0;
  datagramsSent = 0;
  /** recvmmsg calls made (including empty ones), and the datagrams they returned. */
  receiveSyscalls = 0;
  datagramsReceived = 0;
  private readonly tx = new MessageSlots();
  private readonly rx = new MessageSlots();
  private queued = 0;
  private readonly from: Addr = { ip: 0, port: 0 };
  // Typed arrays are backed by an explicit ArrayBuffer: taking `.buffer` of a small inline typed
  // array later would move its storage and leave a pointer taken earlier dangling.
  private readonly pollBuf = new Uint8Array(new ArrayBuffer(pollfd.size));
  private readonly pollPtr = ptr(this.pollBuf);
  private readonly sendName = new Uint8Array(new ArrayBuffer(sockaddrIn.size));
  private readonly sendNameView = new DataView(this.sendName.buffer);
  private readonly sendNamePtr = ptr(this.sendName);
  private open = true;

  private constructor(
    readonly fd: number,
    readonly localPort: number,
  ) {
    const view = new DataView(this.pollBuf.buffer);
    view.setInt32(pollfd.fd, fd, true);
    view.setInt16(pollfd.events, POLLIN, true);
  }

  static bind(host: string, port: number, opts: SocketOptions = {}): UdpSocket {
    const ip = parseIp(host);
    const fd = libc.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw new NetError(errno(), `socket() failed: ${errnoName(errno())}`);
    try {
      if (opts.rcvbufBytes) setBuffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, opts.rcvbufBytes);
      if (opts.sndbufBytes) setBuffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, opts.sndbufBytes);
      const name = new Uint8Array(sockaddrIn.size);
      const view = new DataView(name.buffer);
      view.setUint16(sockaddrIn.family, AF_INET, true);
      view.setUint16(sockaddrIn.port, port, false);
      view.setUint32(sockaddrIn.addr, ip, false);
      if (libc.bind(fd, ptr(name), name.length) < 0) throw bindError(errno(), host, port);
      const len = new Uint32Array([sockaddrIn.size]);
      if (libc.getsockname(fd, ptr(name), ptr(len)) < 0) throw new NetError(errno(), `getsockname failed: ${errnoName(errno())}`);
      return new UdpSocket(fd, view.getUint16(sockaddrIn.port, false));
    } catch (e) {
      libc.close(fd);
      throw e;
    }
  }

  /** Sends one datagram now. Returns false when it was dropped (buffer full, unreachable). */
  sendTo(addr: Addr, bytes: Uint8Array, len: number): boolean {
    const v = this.sendNameView;
    v.setUint16(sockaddrIn.family, AF_INET, true);
    v.setUint16(sockaddrIn.port, addr.port, false);
    v.setUint32(sockaddrIn.addr, addr.ip, false);
    // ptr() refuses an empty array; any valid pointer does for a zero-length datagram.
    const data = bytes.length === 0 ? this.sendNamePtr : ptr(bytes);
    const sent = Number(libc.sendto(this.fd, data, len, 0, this.sendNamePtr, sockaddrIn.size));
    this.sendSyscalls += 1;
    if (sent >= 0) {
      this.datagramsSent += 1;
      return true;
    }
    this.sendDrops += 1;
    return false;
  }

  /** Queues a datagram (copied: `bytes` may be reused at once); it leaves at the next flush, or
   * now when the batch is full. */
  /** Called before queued datagrams leave; false drops them instead (counted in heldBack). A
   * replica with durable storage writes its log here, so nothing it sends precedes its disk. */
  beforeFlush: (() => boolean) | undefined;
  heldBack = 0;

  queue(addr: Addr, bytes: Uint8Array, len: number): void {
    if (len > slotBytes) throw new NetError(90, `datagram of ${len} bytes exceeds ${slotBytes}`);
    if (this.queued === batchMax) this.flush();
    const i = this.queued++;
    this.tx.data.set(len === bytes.length ? bytes : bytes.subarray(0, len), i * slotBytes);
    this.tx.setLength(i, len);
    this.tx.setName(i, addr);
  }

  get pending(): number {
    return this.queued;
  }

  /** Sends everything queued with sendmmsg. Datagrams the kernel refuses are counted and dropped:
   * UDP gives no delivery guarantee and the protocol retransmits. */
  flush(): void {
    if (this.queued === 0) return;
    if (this.beforeFlush && !this.beforeFlush()) {
      this.heldBack += this.queued;
      this.queued = 0;
      return;
    }
    let done = 0;
    while (done < this.queued) {
      const n = libc.sendmmsg(this.fd, this.tx.headersPtr + done * mmsghdr.size, this.queued - done, 0);
      this.sendSyscalls += 1;
      if (n > 0) {
        done += n;
        this.datagramsSent += n;
        continue;
      }
      const e = errno();
      if (n < 0 && e === EINTR) continue;
      // EAGAIN/ENOBUFS, or an error (ICMP unreachable, ...) for the datagram at `done`: skip it.
      this.sendDrops += 1;
      done += 1;
    }
    this.queued = 0;
  }

  /** Drains up to `max` datagrams with recvmmsg and calls `handler` for each: the datagram is the
   * first `len` bytes of `slot`. Slot and `from` are only valid during the call (they are reused,
   * so receiving allocates nothing). Returns the count. */
  receive(handler: (slot: Uint8Array, len: number, from: Addr) => void, max = batchMax): number {
    const rx = this.rx;
    const count = Math.min(max, batchMax);
    for (let i = 0; i < count; i++) rx.headersView.setUint32(i * mmsghdr.size + 8, sockaddrIn.size, true);
    const n = libc.recvmmsg(this.fd, rx.headersPtr, count, MSG_DONTWAIT, null);
    this.receiveSyscalls += 1;
    if (n <= 0) return 0;
    this.datagramsReceived += n;
    for (let i = 0; i < n; i++) {
      const len = rx.headersView.getUint32(i * mmsghdr.size + mmsghdr.len, true);
      rx.readName(i, this.from);
      handler(rx.slots[i]!, Math.min(len, slotBytes), this.from);
    }
    return n;
  }

  /** Blocks up to `timeoutMs` until a datagram is readable. */
  wait(timeoutMs: number): boolean {
    return libc.poll(this.pollPtr, 1, timeoutMs) > 0;
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    libc.close(this.fd);
  }
}

function setBuffer(fd: number, force: number, plain: number, bytes: number): void {
  const value = new Int32Array([bytes]);
  // SO_*BUFFORCE ignores the sysctl caps but needs CAP_NET_ADMIN; fall back to the capped one.
  if (libc.setsockopt(fd, SOL_SOCKET, force, ptr(value), 4) === 0) return;
  libc.setsockopt(fd, SOL_SOCKET, plain, ptr(value), 4);
}

function bindError(e: number, host: string, port: number): NetError {
  if (e === EADDRINUSE) return new NetError(e, `${host}:${port} is already in use (is another replica running?)`);
  if (e === EADDRNOTAVAIL) return new NetError(e, `address ${host} is not on any interface of this host (wrong --id, or wrong network namespace?)`);
  if (e === EACCES) return new NetError(e, `permission denied binding ${host}:${port}`);
  return new NetError(e, `bind ${host}:${port} failed: ${errnoName(e)}`);
}
