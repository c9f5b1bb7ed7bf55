// Parses an Ethernet/IPv4/UDP frame as it arrived on a wire and checks its checksums from first
// principles (RFC 1071 one's complement sums), independently of the kernel that wrote them; and
// builds such frames for tests that craft their own (udpFrame).

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

function ipOctets(ip: string): number[] {
  return ip.split(".").map(Number);
}

/**
 * An Ethernet + IPv4 + UDP frame carrying `payload`, checksums right (locally administered MACs).
 * `ipTotalExtra` makes the IP total length disagree with the UDP length by that many bytes (the
 * frame is padded to match the IP length, as a sender that lies about UDP's would do).
 */
export function udpFrame(from: { ip: string; port: number }, to: { ip: string; port: number }, payload: Uint8Array, ipTotalExtra = 0): Uint8Array {
  const frame = new Uint8Array(ethBytes + ipBytes + udpBytes + payload.length + Math.max(0, ipTotalExtra));
  const v = new DataView(frame.buffer);
  frame.set([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1], 0);
  v.setUint16(12, 0x0800);
  const l3 = ethBytes;
  v.setUint8(l3, 0x45);
  v.setUint16(l3 + 2, ipBytes + udpBytes + payload.length + ipTotalExtra);
  v.setUint8(l3 + 8, 64);
  v.setUint8(l3 + 9, 17);
  frame.set(ipOctets(from.ip), l3 + 12);
  frame.set(ipOctets(to.ip), l3 + 16);
  v.setUint16(l3 + 10, ~onesComplementSum(frame.subarray(l3, l3 + ipBytes)) & 0xffff);
  const l4 = l3 + ipBytes;
  const udpLength = udpBytes + payload.length;
  v.setUint16(l4, from.port);
  v.setUint16(l4 + 2, to.port);
  v.setUint16(l4 + 4, udpLength);
  frame.set(payload, l4 + udpBytes);
  const pseudo = new Uint8Array(12);
  pseudo.set(frame.subarray(l3 + 12, l3 + 20), 0);
  pseudo[9] = 17;
  new DataView(pseudo.buffer).setUint16(10, udpLength);
  const sum = onesComplementSum(frame.subarray(l4, l4 + udpLength), onesComplementSum(pseudo));
  v.setUint16(l4 + 6, ~sum & 0xffff || 0xffff);
  return frame;
}
