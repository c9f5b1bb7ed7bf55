import { expect, test } from "bun:test";
import { encodePut } from "../../src/app/kv.ts";
import { MessageType } from "../../src/wire/layout.ts";
import { Cluster } from "./cluster.ts";

test("recovery restarted after a partial fetch does not mix logs", () => {
  const c = new Cluster({ replicas: 5, seed: 7 });
  const client = c.addClient();
  const big = (i: number) => encodePut(`k${i}`, "x".repeat(600));
  for (let i = 1; i <= 3; i++) {
    c.submit(client, big(i));
    c.runUntil(() => !client.pending, 200, "commit");
  }
  c.run(20);
  // Leader 0 appends ops 4 and 5 that nobody else ever gets.
  const cut = (p: { from: number; to: unknown }) => p.from === 0 && !(typeof p.to === "object" && p.to !== null && "replica" in p.to && (p.to as { replica: number }).replica === 4) && !(typeof p.to === "object" && p.to !== null && "client" in p.to);
  c.filter = (p) => !cut(p);
  c.crash(4);
  c.run(5);
  const ghost = c.addClient();
  c.submit(ghost, big(4));
  c.run(3);
  ghost.pending = undefined;
  c.submit(ghost, big(5));
  c.run(3);
  ghost.pending = undefined;
  c.run(3);
  expect(c.replicas[0]!.opNum).toBe(5);
  c.restart(4);
  // Replica 4 gets two NewState chunks from 0 (ops 1-2 and 3-4), then 0 goes silent and crashes.
  let chunks = 0;
  c.filter = (p) => {
    if (cut(p)) return false;
    if (p.from === 0 && p.msg.type === MessageType.NewState && "replica" in p.to && p.to.replica === 4) return ++chunks <= 2;
    return true;
  };
  c.runUntil(() => chunks >= 3, 200, "partial fetch");
  c.crash(0);
  c.filter = undefined;
  c.runUntil(() => c.replicas[1]!.isLeader, 400, "view 1");
  for (let i = 6; i <= 8; i++) {
    c.runUntil(() => !client.pending, 400, "client idle");
    c.submit(client, big(i));
  }
  c.runUntil(() => c.replicas[4]!.status === 0 && c.replicas[4]!.commit >= 5, 1000, "4 recovered");
  console.log(c.trace.join("\n"), chunks, [1,2,3,4,5,6].map(o => { const e = c.replicas[4]!.entryAt(o); return e && `${e.clientId}#${e.requestNum}`; }), [1,2,3,4,5,6].map(o => { const e = c.replicas[1]!.entryAt(o); return e && `${e.clientId}#${e.requestNum}`; }));
});
