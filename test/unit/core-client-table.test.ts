import { expect, test } from "bun:test";
import { ClientTable } from "../../src/core/client-table.ts";
import { MessageType } from "../../src/wire/layout.ts";
import type { Reply } from "../../src/wire/messages.ts";

const reply = (clientId: number, requestNum: number, opNum: number): Reply => ({
  type: MessageType.Reply,
  view: 0,
  sender: 0,
  opNum,
  clientId,
  requestNum,
  result: new Uint8Array([opNum]),
});

test("unknown client: any request is new", () => {
  const t = new ClientTable();
  expect(t.classify(7, 1).kind).toBe("new");
  expect(t.classify(7, 1000).kind).toBe("new"); // request numbers may skip
});

test("executed: older is ignored, the same gets the cached reply, newer is new", () => {
  const t = new ClientTable();
  t.recordExecuted(7, 5, reply(7, 5, 42));
  expect(t.classify(7, 4).kind).toBe("ignore");
  const same = t.classify(7, 5);
  expect(same.kind === "cached" && same.reply.opNum).toBe(42);
  expect(t.classify(7, 6).kind).toBe("new");
  expect(t.classify(8, 5).kind).toBe("new"); // clients are independent
  expect(t.size).toBe(1);
});

test("in flight: a retry of a logged, unexecuted request is ignored until executed", () => {
  const t = new ClientTable();
  t.markInFlight(7, 1);
  expect(t.classify(7, 1).kind).toBe("ignore");
  expect(t.classify(7, 2).kind).toBe("new");
  t.recordExecuted(7, 1, reply(7, 1, 3));
  expect(t.classify(7, 1).kind).toBe("cached");
  expect(t.classify(7, 2).kind).toBe("new");
});

test("in flight keeps the latest; executing an older one keeps it; clearing forgets it", () => {
  const t = new ClientTable();
  t.markInFlight(7, 2);
  t.markInFlight(7, 1); // never lowers
  t.recordExecuted(7, 1, reply(7, 1, 3));
  expect(t.classify(7, 2).kind).toBe("ignore");
  t.clearInFlight();
  expect(t.classify(7, 2).kind).toBe("new");
});

test("duplicates: at or below the executed request number", () => {
  const t = new ClientTable();
  expect(t.isDuplicate(7, 1)).toBe(false);
  t.recordExecuted(7, 3, reply(7, 3, 9));
  expect([1, 2, 3, 4].map((r) => t.isDuplicate(7, r))).toEqual([true, true, true, false]);
});
