// bun:ffi bindings to the libc calls electrode's transport needs, and the struct layouts they use
// (x86_64 Linux), declared once here.

import { dlopen, toArrayBuffer } from "bun:ffi";


export const libc = dlopen("libc.so.6", {
  socket: { args: ["i32", "i32", "i32"], returns: "i32" },
  bind: { args: ["i32", "ptr", "u32"], returns: "i32" },
  setsockopt: { args: ["i32", "i32", "i32", "ptr", "u32"], returns: "i32" },
  getsockopt: { args: ["i32", "i32", "i32", "ptr", "ptr"], returns: "i32" },
  getsockname: { args: ["i32", "ptr", "ptr"], returns: "i32" },
  sendto: { args: ["i32", "ptr", "u64", "i32", "ptr", "u32"], returns: "i64" },
  sendmmsg: { args: ["i32", "ptr", "u32", "i32"], returns: "i32" },
  recvfrom: { args: ["i32", "ptr", "u64", "i32", "ptr", "ptr"], returns: "i64" },
  recvmmsg: { args: ["i32", "ptr", "u32", "i32", "ptr"], returns: "i32" },
  poll: { args: ["ptr", "u64", "i32"], returns: "i32" },
  close: { args: ["i32"], returns: "i32" },
  setns: { args: ["i32", "i32"], returns: "i32" },
  open: { args: ["ptr", "i32"], returns: "i32" },
  mmap: { args: ["ptr", "u64", "i32", "i32", "i32", "i64"], returns: "ptr" },
  munmap: { args: ["ptr", "u64"], returns: "i32" },
  sysconf: { args: ["i32"], returns: "i64" },
  if_nametoindex: { args: ["ptr"], returns: "u32" },
  flock: { args: ["i32", "i32"], returns: "i32" },
  __errno_location: { args: [], returns: "ptr" },
}).symbols;

const errnoView = (() => {
  const at = libc.__errno_location();
  if (!at) throw new Error("libc: __errno_location returned NULL");
  return new Int32Array(toArrayBuffer(at, 0, 4));
})();

/** errno of the calling (main JS) thread, read right after a failing call. */
export function errno(): number {
  return errnoView[0]!;
}

export const AF_INET = 2;
export const AF_PACKET = 17;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const IPPROTO_UDP = 17;
export const SOL_SOCKET = 1;
export const SO_REUSEADDR = 2;
export const SO_SNDBUF = 7;
export const SO_RCVBUF = 8;
export const SO_SNDBUFFORCE = 32;
export const SO_RCVBUFFORCE = 33;
export const MSG_DONTWAIT = 0x40;
export const POLLIN = 0x1;
export const O_RDONLY = 0;
export const CLONE_NEWNET = 0x40000000;
export const PROT_READ = 0x1;
export const PROT_WRITE = 0x2;
export const MAP_SHARED = 0x01;
export const _SC_PAGESIZE = 30;
/** flock(2) operations. */
export const LOCK_EX = 2;
export const LOCK_NB = 4;
/** Ethernet protocol numbers (host order; sockets take them in network order). */
export const ETH_P_ALL = 0x0003;
export const ETH_P_IP = 0x0800;
/** sockaddr_ll.sll_pkttype of a frame this host sent (an AF_PACKET socket sees both ways). */
export const PACKET_OUTGOING = 4;

export const errnoNames: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  4: "EINTR",
  9: "EBADF",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  22: "EINVAL",
  24: "EMFILE",
  90: "EMSGSIZE",
  97: "EAFNOSUPPORT",
  98: "EADDRINUSE",
  99: "EADDRNOTAVAIL",
  101: "ENETUNREACH",
  105: "ENOBUFS",
  111: "ECONNREFUSED",
  113: "EHOSTUNREACH",
};

export const EINTR = 4;
export const EAGAIN = 11;
/** flock with LOCK_NB on a lock another process holds. */
export const EWOULDBLOCK = EAGAIN;
export const EPERM = 1;
export const EACCES = 13;
export const EADDRINUSE = 98;
export const EADDRNOTAVAIL = 99;
export const ENOBUFS = 105;
export const ECONNREFUSED = 111;
export const EHOSTUNREACH = 113;
export const ENETUNREACH = 101;

export function errnoName(n: number): string {
  return errnoNames[n] ?? `errno ${n}`;
}

/** struct sockaddr_ll (AF_PACKET): 20 bytes; protocol in network order. */
export const sockaddrLl = { size: 20, family: 0, protocol: 2, ifindex: 4, hatype: 8, pkttype: 10, halen: 11, addr: 12 } as const;
/** struct sockaddr_in: 16 bytes. */
export const sockaddrIn = { size: 16, family: 0, port: 2, addr: 4 } as const;
/** struct iovec: 16 bytes. */
export const iovec = { size: 16, base: 0, len: 8 } as const;
/** struct msghdr: 56 bytes. */
export const msghdr = {
  size: 56,
  name: 0,
  namelen: 8,
  iov: 16,
  iovlen: 24,
  control: 32,
  controllen: 40,
  flags: 48,
} as const;
/** struct mmsghdr: a msghdr and the byte count the kernel fills in; 64 bytes. */
export const mmsghdr = { size: 64, hdr: 0, len: 56 } as const;
/** struct pollfd: 8 bytes. */
export const pollfd = { size: 8, fd: 0, events: 4, revents: 6 } as const;
