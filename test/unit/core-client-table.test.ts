import { describe, expect, test } from "bun:test";
import { ClientTable, registerRequestNum } from "../../src/core/client-table.ts";

const result = (n: number) => new Uint8Array([n]);

/** A table where client 7 registered at op 1 (session 1) and executed request 5 at op 42. */
function withSeven(clientsMax = 8): ClientTable {
  const t = new ClientTable(clientsMax);
  t.register(7, 1);
  t.recordExecuted(7, 5, 42, result(42));
  return t;
}

describe("client table", () => {
  test("an unknown client may only register; any other request is answered Evicted", () => {
    const t = new ClientTable(8);
    expect(t.classify(7, registerRequestNum, 0).kind).toBe("new");
    expect(t.classify(7, 1, 0).kind).toBe("evicted");
    expect(t.classify(7, 1000, 3).kind).toBe("evicted");
    expect(t.execution(7, registerRequestNum)).toBe("register");
    expect(t.execution(7, 1)).toBe("evicted"); // logged, then its session went: never executes
  });

  test("registered: older is ignored, the same gets the cached reply, newer is new; the session must match", () => {
    const t = withSeven();
    expect(t.classify(7, 4, 1).kind).toBe("ignore");
    const same = t.classify(7, 5, 1);
    expect(same.kind === "cached" && [same.reply.opNum, same.reply.requestNum, same.reply.session, same.reply.result[0]]).toEqual([42, 5, 1, 42]);
    expect(t.classify(7, 6, 1).kind).toBe("new");
    expect(t.classify(7, 6, 2).kind).toBe("evicted"); // another session of the same id
    expect(t.classify(7, registerRequestNum, 0).kind).toBe("ignore"); // a late copy of its registration
    expect(t.execution(7, registerRequestNum)).toBe("duplicate");
    expect([4, 5, 6].map((r) => t.execution(7, r))).toEqual(["duplicate", "duplicate", "execute"]);
    expect(t.classify(8, 5, 1).kind).toBe("evicted"); // clients are independent
    expect(t.size).toBe(1);
  });

  test("the registration's reply carries its op as the session number", () => {
    const t = new ClientTable(8);
    t.register(9, 17);
    const r = t.registerReply(9, 17);
    expect([r.requestNum, r.opNum, r.session, r.result.length]).toEqual([0, 17, 17, 0]);
    expect(t.sessionOf(9)).toBe(17);
    const cached = t.classify(9, registerRequestNum, 0);
    expect(cached.kind === "cached" && cached.reply.session).toBe(17);
  });

  test("in flight: a retry of a logged, unexecuted request is ignored until executed", () => {
    const t = new ClientTable(8);
    t.register(7, 1);
    t.markInFlight(7, 1);
    expect(t.classify(7, 1, 1).kind).toBe("ignore");
    expect(t.classify(7, 2, 1).kind).toBe("new");
    t.recordExecuted(7, 1, 3, result(3));
    expect(t.classify(7, 1, 1).kind).toBe("cached");
    expect(t.classify(7, 2, 1).kind).toBe("new");
    // A registration in flight is not logged twice either.
    t.markInFlight(8, registerRequestNum);
    expect(t.classify(8, registerRequestNum, 0).kind).toBe("ignore");
  });

  test("in flight keeps the latest; executing an older one keeps it; clearing forgets it", () => {
    const t = new ClientTable(8);
    t.register(7, 1);
    t.markInFlight(7, 2);
    t.markInFlight(7, 1); // never lowers
    t.recordExecuted(7, 1, 3, result(3));
    expect(t.classify(7, 2, 1).kind).toBe("ignore");
    t.clearInFlight();
    expect(t.classify(7, 2, 1).kind).toBe("new");
  });

  test("registering into a full table evicts the session that committed a request longest ago", () => {
    const t = new ClientTable(3);
    t.register(1, 1);
    t.register(2, 2);
    t.register(3, 3);
    t.recordExecuted(1, 1, 4, result(4)); // 1 is now the most recent; 2 the least
    t.markInFlight(2, 1);
    expect(t.register(4, 5)).toBe(2);
    expect([t.has(1), t.has(2), t.has(3), t.has(4), t.size, t.evictions]).toEqual([true, false, true, true, 3, 1]);
    expect(t.classify(2, 1, 2).kind).toBe("evicted"); // and its in-flight request is forgotten
    expect(t.register(5, 6)).toBe(3);
    expect(t.register(6, 7)).toBe(1);
  });

  test("a duplicate registration after an eviction opens a new session; the old session's requests stay refused", () => {
    const t = new ClientTable(1);
    t.register(7, 1);
    t.recordExecuted(7, 3, 2, result(2));
    expect(t.register(8, 3)).toBe(7);
    expect(t.execution(7, registerRequestNum)).toBe("register"); // a copy the network kept
    expect(t.register(7, 4)).toBe(8);
    expect(t.classify(7, 3, 1).kind).toBe("evicted"); // session 1 is gone: request 3 cannot run again
    expect(t.classify(7, 4, 1).kind).toBe("evicted");
    expect(t.classify(7, 1, 4).kind).toBe("new"); // only the new session (which nobody learned) may
  });

  test("serializes in order and restores the same table (in-flight requests are forgotten)", () => {
    const t = new ClientTable(4);
    for (const id of [5, 6, 7]) t.register(id, id);
    t.recordExecuted(5, 2, 9, new Uint8Array([1, 2, 3]));
    t.markInFlight(6, 1);
    const bytes = new Uint8Array(t.serializedBytes() + 3);
    expect(t.serialize(bytes, 3)).toBe(bytes.length);
    const back = new ClientTable(3);
    back.replace(back.parse(bytes, 3));
    const again = new Uint8Array(back.serializedBytes());
    back.serialize(again, 0);
    expect(again).toEqual(bytes.subarray(3));
    const cached = back.classify(5, 2, 5);
    expect(cached.kind === "cached" && Array.from(cached.reply.result)).toEqual([1, 2, 3]);
    expect(back.classify(6, 1, 6).kind).toBe("new");
    expect(back.register(8, 10)).toBe(6); // the order survived: 6 is the least recent (5 executed after it)
  });

  test("a malformed or too large serialized table is refused, and nothing changes", () => {
    const t = withSeven();
    const bytes = new Uint8Array(t.serializedBytes());
    t.serialize(bytes, 0);
    expect(() => t.parse(bytes.subarray(0, bytes.length - 1), 0)).toThrow(RangeError);
    const small = new ClientTable(1);
    const two = new ClientTable(4);
    two.register(1, 1);
    two.register(2, 2);
    const twoBytes = new Uint8Array(two.serializedBytes());
    two.serialize(twoBytes, 0);
    expect(() => small.parse(twoBytes, 0)).toThrow(/clients_max/);
    expect(t.size).toBe(1);
  });
});
