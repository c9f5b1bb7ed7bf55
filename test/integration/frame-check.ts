// Parses an Ethernet/IPv4/UDP frame as it arrived on a wire and checks its checksums from first
// principles (RFC 1071 one's complement sums), independently of the kernel that wrote them.

export interface UdpFrame {
  readonly dstMac: string;
  readonly srcMac: string;
  readonly srcIp: string;
  readonly dstIp: string;
  readonly ttl: number;
  readonly fragment: number;
  readonly ipTotalLength: number;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly udpLength: number;
  readonly udpChecksum: number;
  /** The IPv4 header sums to 0xffff (its checksum is right). */
  readonly ipChecksumOk: boolean;
  /** The UDP checksum is right over pseudo-header, header and payload (zero counts as wrong:
   * "no checksum" is not what a sender with checksums on may produce). */
  readonly udpChecksumOk: boolean;
  readonly payload: Uint8Array;
}

const ethBytes = 14;
const ipBytes = 20;
const udpBytes = 8;

/** The 16-bit one's complement sum of `bytes` (big-endian words, odd tail padded), folded. */
export function onesComplementSum(bytes: Uint8Array, initial = 0): number {
  let sum = initial;
  for (let i = 0; i + 1 < bytes.length; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (bytes.length % 2 === 1) sum += bytes[bytes.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

function mac(bytes: Uint8Array, at: number): string {
  return Array.from(bytes.subarray(at, at + 6), (b) => b.toString(16).padStart(2, "0")).join(":");
}

function ip(bytes: Uint8Array, at: number): string {
  return Array.from(bytes.subarray(at, at + 4)).join(".");
}

/** The frame's UDP view, or undefined when it is not a whole IPv4 (no options) UDP datagram. */
export function parseUdpFrame(frame: Uint8Array): UdpFrame | undefined {
  if (frame.length < ethBytes + ipBytes + udpBytes) return undefined;
  const v = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  if (v.getUint16(12) !== 0x0800) return undefined;
  const l3 = frame.subarray(ethBytes);
  if (l3[0] !== 0x45 || l3[9] !== 17) return undefined; // IPv4 without options, UDP
  const ipTotalLength = v.getUint16(ethBytes + 2);
  if (ipTotalLength < ipBytes + udpBytes || ethBytes + ipTotalLength > frame.length) return undefined;
  const l4 = frame.subarray(ethBytes + ipBytes, ethBytes + ipTotalLength); // drops link padding
  const udpLength = v.getUint16(ethBytes + ipBytes + 4);
  const udpChecksum = v.getUint16(ethBytes + ipBytes + 6);
  const pseudo = new Uint8Array(12);
  pseudo.set(l3.subarray(12, 20), 0); // source and destination address
  pseudo[9] = 17;
  pseudo[10] = udpLength >> 8;
  pseudo[11] = udpLength & 0xff;
  const udpSum = udpLength === l4.length ? onesComplementSum(l4, onesComplementSum(pseudo)) : 0;
  return {
    dstMac: mac(frame, 0),
    srcMac: mac(frame, 6),
    srcIp: ip(l3, 12),
    dstIp: ip(l3, 16),
    ttl: l3[8]!,
    fragment: v.getUint16(ethBytes + 6),
    ipTotalLength,
    srcPort: v.getUint16(ethBytes + ipBytes),
    dstPort: v.getUint16(ethBytes + ipBytes + 2),
    udpLength,
    udpChecksum,
    ipChecksumOk: onesComplementSum(l3.subarray(0, ipBytes)) === 0xffff,
    udpChecksumOk: udpChecksum !== 0 && udpSum === 0xffff,
    payload: l4.subarray(udpBytes),
  };
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

export function unhex(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, "hex"));
}
