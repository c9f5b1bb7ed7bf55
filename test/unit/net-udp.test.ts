import { afterEach, describe, expect, test } from "bun:test";
import { addrKey, formatAddr, NetError, parseAddr, UdpSocket, type Addr } from "../../src/net/udp.ts";

const open: UdpSocket[] = [];
afterEach(() => {
  while (open.length) open.pop()!.close();
});
function bind(port = 0): UdpSocket {
  const s = UdpSocket.bind("127.0.0.1", port, { rcvbufBytes: 4 << 20 });
  open.push(s);
  return s;
}
function drain(s: UdpSocket, want: number): { data: number[]; from: Addr }[] {
  const got: { data: number[]; from: Addr }[] = [];
  const deadline = Date.now() + 2000;
  while (got.length < want && Date.now() < deadline) {
    if (s.receive((slot, len, from) => got.push({ data: [...slot.subarray(0, len)], from: { ...from } })) === 0) s.wait(10);
  }
  return got;
}

describe("UdpSocket on loopback", () => {
  test("sendTo round trip of sizes 0..1472 with the right source", () => {
    const a = bind();
    const b = bind();
    const to = parseAddr(`127.0.0.1:${b.localPort}`);
    const sizes = [0, 1, 31, 32, 100, 1000, 1471, 1472];
    for (const size of sizes) {
      const payload = new Uint8Array(size).map((_, i) => (i * 7 + size) & 255);
      expect(a.sendTo(to, payload, size)).toBe(true);
    }
    const got = drain(b, sizes.length);
    expect(got.map((g) => g.data.length)).toEqual(sizes);
    for (const g of got) {
      expect(formatAddr(g.from)).toBe(`127.0.0.1:${a.localPort}`);
      expect(g.data.every((v, i) => v === ((i * 7 + g.data.length) & 255))).toBe(true);
    }
  });

  test("queue/flush sends more than one batch, in order, copying payloads", () => {
    const a = bind();
    const b = bind();
    const to = parseAddr(`127.0.0.1:${b.localPort}`);
    const buf = new Uint8Array(8);
    for (let i = 0; i < 150; i++) {
      new DataView(buf.buffer).setUint32(0, i, true);
      a.queue(to, buf, 4 + (i % 5)); // the buffer is reused at once: queue must copy
    }
    a.flush();
    expect(a.pending).toBe(0);
    const got = drain(b, 150);
    expect(got.length).toBe(150);
    expect(got.map((g) => new DataView(new Uint8Array(g.data).buffer).getUint32(0, true))).toEqual([...Array(150).keys()]);
    expect(got.map((g) => g.data.length)).toEqual([...Array(150).keys()].map((i) => 4 + (i % 5)));
  });

  test("receive returns 0 when nothing is pending and wait times out", () => {
    const a = bind();
    expect(a.receive(() => {})).toBe(0);
    expect(a.wait(5)).toBe(false);
  });

  test("wait wakes up when a datagram arrives (not at its timeout)", async () => {
    const a = bind();
    const sender = Bun.spawn([process.execPath, "-e", `await Bun.sleep(200); const s = await Bun.udpSocket({}); s.send("wake", ${a.localPort}, "127.0.0.1"); s.close();`]);
    const started = performance.now();
    expect(a.wait(5000)).toBe(true);
    expect(performance.now() - started).toBeLessThan(3000);
    expect(drain(a, 1).length).toBe(1);
    await sender.exited;
  });

  test("port in use is a clear NetError", () => {
    const a = bind();
    try {
      UdpSocket.bind("127.0.0.1", a.localPort);
      throw new Error("expected EADDRINUSE");
    } catch (e) {
      expect(e).toBeInstanceOf(NetError);
      expect((e as NetError).errno).toBe(98);
      expect((e as Error).message).toBe(`127.0.0.1:${a.localPort} is already in use (is another replica running?)`);
    }
  });

  test("an address not on this host is a clear NetError", () => {
    expect(() => UdpSocket.bind("192.0.2.123", 0)).toThrow(/not on any interface/);
  });

  test("bad address strings are rejected", () => {
    for (const bad of ["", "1.2.3", "1.2.3.4", "1.2.3.256:1", "1.2.3.4:70000", "a.b.c.d:1"]) {
      expect(() => parseAddr(bad)).toThrow(NetError);
    }
    expect(addrKey(parseAddr("10.0.0.1:5"))).toBe(parseAddr("10.0.0.1:5").ip * 65536 + 5);
  });

  test("close is idempotent", () => {
    const a = UdpSocket.bind("127.0.0.1", 0);
    a.close();
    a.close();
  });
});
