import { describe, expect, test } from "bun:test";
import { decideRecovery, RecoveryRounds, type RecoveryAnswer } from "../../src/core/recovery.ts";
import { MessageType } from "../../src/wire/layout.ts";

const normal = (view: number, opNum = 10, commit = 8, round = 0): RecoveryAnswer => ({ view, opNum, commit, recovering: false, lastNormalView: 0, round });
const recovering = (round = 0, view = 0): RecoveryAnswer => ({ view, opNum: 0, commit: 0, recovering: true, lastNormalView: 0, round });

describe("decideRecovery with disk claims (the whole cluster restarts from its data directories)", () => {
  const claim = (view: number, lastNormalView: number, opNum: number, commit = 0, round = 0): RecoveryAnswer => ({ view, opNum, commit, recovering: true, lastNormalView, round });
  const text = (d: ReturnType<typeof decideRecovery>) => (d.kind === "disk-start" ? `disk-start v${d.view}` : d.kind === "fetch" ? `fetch v${d.view} from ${d.leader}` : d.kind);
  test.each([
    // [answers, n, self, own claim [view, lnv, op], expected]
    [[[1, claim(3, 3, 90)], [2, claim(3, 3, 100)]], 3, 2, [3, 3, 100], "disk-start v5"], // longest log wins; first view above 3 that 2 leads
    [[[1, claim(3, 3, 90)], [2, claim(3, 3, 100)]], 3, 0, [3, 3, 80], "wait"], // 2 starts, 0 waits for it
    [[[1, claim(4, 4, 10)], [2, claim(3, 3, 100)]], 3, 1, [4, 4, 10], "disk-start v7"], // a later normal view beats a longer log
    [[[1, claim(9, 3, 100)], [2, claim(3, 3, 100)]], 3, 0, [3, 3, 100], "disk-start v12"], // a tie goes to the lowest index, above every promise
    [[[1, claim(3, 3, 90)]], 3, 0, [3, 3, 100], "wait"], // replica 2 has not answered: never without all n
    [[[1, claim(0, 0, 0)], [2, claim(0, 0, 0)]], 3, 0, [0, 0, 0], "fresh"], // no disk anywhere
    [[[1, claim(0, 0, 0)], [2, claim(0, 0, 0)]], 3, 0, [2, 2, 5], "disk-start v3"], // only self has a disk
    [[[1, claim(0, 0, 0)], [2, normal(0, 0, 0)]], 3, 0, [2, 2, 5], "wait"], // never fresh over a claim
    [[], 1, 0, [2, 2, 5], "disk-start v3"], // alone
    // A log short of the highest commit any disk recorded never wins (with fsync interval a
    // checkpoint, fsynced at once, can be on disk while the View record of a later view is not).
    [[[1, claim(3, 3, 90, 90)], [2, claim(4, 4, 80, 70)]], 3, 1, [3, 3, 90, 90], "disk-start v7"],
    [[[1, claim(3, 3, 90, 90)], [2, claim(4, 4, 80, 70)]], 3, 2, [4, 4, 80, 70], "wait"],
    [[[1, claim(3, 3, 90, 85)], [2, claim(4, 4, 85, 70)]], 3, 2, [4, 4, 85, 70], "disk-start v5"], // both reach 85: the view-change order
    // After a disk start of 5: the leader and one follower are normal, three recover and follow
    // them (waiting for f+1 = 3 normal answers never ended); without a disk claim, beyond f
    // failures, they wait.
    [[[0, normal(5, 12, 11)], [1, claim(4, 4, 11)], [3, normal(5, 12, 11)], [4, claim(4, 4, 10)]], 5, 2, [4, 4, 9], "fetch v5 from 0"],
    [[[0, normal(5, 12, 11)], [1, claim(4, 4, 11)], [3, normal(6, 12, 11)], [4, claim(4, 4, 10)]], 5, 2, [4, 4, 9], "wait"], // two views
    [[[0, normal(5, 12, 11)], [1, claim(6, 4, 11)], [3, normal(5, 12, 11)], [4, claim(4, 4, 10)]], 5, 2, [4, 4, 9], "wait"], // 1 promised view 6
    [[[0, normal(5, 12, 11)], [1, claim(0, 0, 0)], [3, normal(5, 12, 11)], [4, claim(0, 0, 0)]], 5, 2, [0, 0, 0], "wait"], // no disk anywhere
  ] as [[number, RecoveryAnswer][], number, number, [number, number, number, number?], string][])("%j n=%i self %i own %j -> %s", (answers, n, self, own, expected) => {
    expect(text(decideRecovery(new Map(answers), 0, n, self, { view: own[0], lastNormalView: own[1], opNum: own[2], commit: own[3] ?? 0 }))).toBe(expected);
  });
});

describe("decideRecovery", () => {
  // [answers by sender, current round, n, self, expected]
  test.each([
    [[], 0, 3, 2, "wait"],
    [[[0, normal(4)]], 0, 3, 2, "wait"], // f+1 = 2 normal answers needed
    [[[0, normal(4)], [1, normal(4)]], 0, 3, 2, "fetch v4 from 1"], // leader of view 4 is 1
    [[[0, normal(3)], [2, normal(3)]], 0, 3, 1, "fetch v3 from 0"],
    [[[0, normal(4)], [2, normal(3)]], 0, 3, 1, "wait"], // the leader of view 4 (1) is self
    [[[0, normal(4)], [2, normal(5)]], 0, 3, 1, "fetch v5 from 2"],
    [[[0, normal(6)], [2, normal(5)]], 0, 3, 1, "fetch v6 from 0"],
    [[[0, normal(6)], [2, normal(7)]], 0, 3, 1, "wait"], // leader of 7 (1) is self
    [[[1, normal(6)], [2, normal(5)], [3, normal(6)]], 0, 5, 0, "fetch v6 from 1"],
    [[[1, normal(5)], [2, normal(5)], [3, normal(6)]], 0, 5, 0, "wait"], // leader of 6 (1) answered for view 5
    [[[1, normal(5)], [2, recovering()]], 0, 3, 0, "wait"], // only one normal answer
    [[[1, recovering()], [2, recovering()]], 0, 3, 0, "fresh"], // everybody lost everything
    [[[1, recovering(0)], [2, recovering(1)]], 1, 3, 0, "wait"], // one answer is from an older round
    [[[1, recovering()], [2, normal(0)]], 0, 3, 0, "wait"], // someone holds state: never fresh
    [[[1, recovering()], [2, recovering()], [3, recovering()]], 0, 5, 0, "wait"], // 4 must answer too
    // Started together: one replica already started afresh (normal, view 0, empty log).
    [[[1, recovering()], [2, normal(0, 0, 0)]], 0, 3, 0, "fresh"],
    [[[1, normal(0, 0, 0)], [2, normal(0, 0, 0)]], 0, 3, 0, "fresh"],
    [[[1, normal(0, 0, 0, 0)], [2, recovering(1)]], 1, 3, 0, "wait"], // an answer of an older round
    // The leader of its view is the only normal replica and everyone else recovers: after a disk
    // start (or beyond f failures, where nothing better exists): follow it.
    [[[1, normal(1, 0, 0)], [2, recovering()]], 0, 3, 0, "fetch v1 from 1"],
    [[[1, normal(2, 0, 0)], [2, recovering()]], 0, 3, 0, "wait"], // not the leader of view 2
    // Two of five started afresh and the leader took a request (op 1, nothing committed).
    [[[0, normal(0, 1, 0)], [1, normal(0, 1, 0)], [3, recovering()], [4, recovering()]], 0, 5, 2, "fresh"],
    [[[0, normal(0, 1, 1)], [1, normal(0, 1, 0)], [3, recovering()], [4, recovering()]], 0, 5, 2, "wait"], // op 1 committed
    [[[1, normal(0, 1, 0)], [2, normal(0, 1, 0)], [3, recovering()], [4, recovering()]], 0, 5, 0, "wait"], // the view-0 leader is self
    [[[0, normal(0, 1, 0, 0)], [1, normal(0, 1, 0)], [3, recovering()], [4, recovering()]], 1, 5, 2, "wait"], // the leader's answer is old
    // The view-0 leader never committed, but the other holds nothing in view 1: view 0 is over, and
    // joining its leader would let the two commit in a deposed view (simulator seed 3155).
    [[[0, normal(0, 7, 0)], [2, recovering(0, 1)]], 0, 3, 1, "wait"],
    [[[0, normal(0, 7, 0)], [2, recovering(0, 0)]], 0, 3, 1, "fetch v0 from 0"], // as after a disk start
    [[[0, normal(3, 7, 5)], [2, recovering(0, 4)]], 0, 3, 1, "wait"], // one holding nothing in view 4: view 3 is over
    [[[0, normal(3, 7, 5)], [2, recovering(0, 3)]], 0, 3, 1, "fetch v3 from 0"],
    [[[1, recovering(0, 2)], [2, recovering(0, 1)]], 0, 3, 0, "fresh"], // everybody holds nothing: whatever the views
    [[], 0, 1, 0, "fresh"], // alone
  ] as [[number, RecoveryAnswer][], number, number, number, string][])("%j round %i n=%i self %i -> %s", (answers, round, n, self, expected) => {
    const d = decideRecovery(new Map(answers), round, n, self);
    const text = d.kind === "fetch" ? `fetch v${d.view} from ${d.leader}` : d.kind;
    expect(text).toBe(expected);
  });

  test("fetch carries the leader's op and commit", () => {
    const d = decideRecovery(new Map([[0, normal(3, 10, 8)], [4, normal(4, 12, 11)], [2, normal(4, 11, 11)]]), 0, 5, 3);
    expect(d).toEqual({ kind: "fetch", view: 4, leader: 4 % 5, opNum: 12, commit: 11 } as never);
  });
});

describe("RecoveryRounds", () => {
  const answer = (sender: number, nonce: number, view = 1) => ({ type: MessageType.RecoveryResponse as const, view, sender, nonce, recovering: false, lastNormalView: 0, opNum: 5, commit: 4 });

  test("each round has its own nonce; answers of this collection count, others do not", () => {
    const r = new RecoveryRounds(1000);
    expect(r.record(answer(1, 1000))).toBe(false); // before the first round
    expect(r.nextRound()).toBe(1000);
    expect(r.nextRound()).toBe(1001);
    expect(r.record(answer(1, 1000))).toBe(true); // an earlier round of this collection
    expect(r.record(answer(2, 1002))).toBe(false); // a round not started yet
    expect(r.record(answer(2, 999))).toBe(false); // not ours
    expect(r.record(answer(2, 1001))).toBe(true);
    expect(r.decide(3, 0)).toEqual({ kind: "fetch", view: 1, leader: 1, opNum: 5, commit: 4 });
    r.restart(); // a new collection: earlier rounds no longer count
    expect(r.record(answer(1, 1001))).toBe(false);
    expect(r.nextRound()).toBe(1002);
    expect(r.record(answer(1, 1002))).toBe(true);
    expect(r.decide(3, 0).kind).toBe("wait");
  });

  test("an older round's answer never replaces a newer one from the same replica", () => {
    const r = new RecoveryRounds(0);
    r.nextRound();
    r.nextRound();
    expect(r.record(answer(1, 1, 7))).toBe(true);
    expect(r.record(answer(1, 0, 3))).toBe(false);
  });

  test("nonces wrap within the exact range of a double", () => {
    const r = new RecoveryRounds(2 ** 53 - 1);
    expect(r.nextRound()).toBe(2 ** 53 - 1);
    expect(r.nextRound()).toBe(0);
    expect(r.record(answer(1, 0))).toBe(true);
  });
});
