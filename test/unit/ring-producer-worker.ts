// A Worker that reserves one ring record and holds it busy (see ring-producer.ts: HoldOrder): the
// stalled XDP program, on another thread, as the fence sees it.

import { Ctl, RingProducer, type HoldOrder } from "./ring-producer.ts";

declare const self: Worker;

self.onmessage = (event: MessageEvent<HoldOrder>) => {
  const order = event.data;
  const ctl = new Int32Array(order.control);
  const producer = new RingProducer(order.buffers);
  const at = producer.reserve(order.reserveBytes);
  if (at === undefined) throw new Error("ring full");
  Atomics.store(ctl, Ctl.state, 1);
  Atomics.notify(ctl, Ctl.state);
  Atomics.wait(ctl, Ctl.fenceBegun, 0);
  if (order.holdMs === null) return; // never submits
  Bun.sleepSync(order.holdMs);
  producer.submit(at, order.datagram);
  Atomics.store(ctl, Ctl.state, 2);
};
