import { describe, expect, test } from "bun:test";
import { chooseLog, faultsTolerated, leaderOf, quorumOp, type LogClaim } from "../../src/core/quorum.ts";

describe("faultsTolerated and leaderOf", () => {
  test.each([
    [1, 0],
    [3, 1],
    [5, 2],
    [7, 3],
    [15, 7],
  ])("n=%i tolerates f=%i", (n, f) => expect(faultsTolerated(n)).toBe(f));

  test("the leader rotates with the view", () => {
    expect([0, 1, 2, 3, 4, 5, 6].map((v) => leaderOf(v, 3))).toEqual([0, 1, 2, 0, 1, 2, 0]);
  });
});

describe("quorumOp: highest op held by the leader and f followers", () => {
  // [acked by replica, leader index, leader's op, f, expected]
  test.each([
    [[0, 0, 0], 0, 5, 1, 0], // no acks yet
    [[0, 3, 0], 0, 5, 1, 3], // one follower is enough for n=3
    [[0, 3, 5], 0, 5, 1, 5], // the best follower decides
    [[9, 3, 5], 0, 5, 1, 5], // the leader's own slot is ignored
    [[0, 7, 7], 0, 5, 1, 5], // acks beyond the leader's op count as its op
    [[0, 4, 4, 0, 0], 0, 9, 2, 4], // n=5 needs two followers
    [[0, 9, 0, 0, 0], 0, 9, 2, 0], // one follower is not enough for n=5
    [[2, 0, 6, 3, 1], 1, 9, 2, 3], // any leader position
    [[5, 5, 5, 5, 5, 5, 5], 3, 5, 3, 5],
    [[1, 2, 3, 4, 5, 6, 0], 6, 9, 3, 4], // n=7: the third-best follower
    [[0], 0, 4, 0, 4], // n=1 commits alone
  ])("acked %j leader %i op %i f %i -> %i", (acked, leader, op, f, expected) => {
    expect(quorumOp(acked, leader, op, f)).toBe(expected);
  });
});

describe("quorumOp with the leader's own vote below its op (durableVotes): f+1 of all n", () => {
  // [acked by replica, leader index, leader's op, f, leader's own op, expected]
  test.each([
    [[0, 5, 0], 0, 5, 1, 0, 0], // one follower and a leader whose disk holds nothing
    [[0, 5, 0], 0, 5, 1, 3, 3], // the leader's disk decides
    [[0, 5, 4], 0, 5, 1, 0, 4], // two followers: a quorum without the leader
    [[0, 9, 9, 1, 0], 0, 9, 2, 8, 8],
    [[0, 9, 9, 1, 0], 0, 9, 2, 0, 1],
    [[0], 0, 4, 0, 2, 2], // n=1: its own disk alone
  ])("acked %j leader %i op %i f %i own %i -> %i", (acked, leader, op, f, own, expected) => {
    expect(quorumOp(acked, leader, op, f, own)).toBe(expected);
  });
});

describe("chooseLog: highest lastNormalView, then highest op; ties go to self", () => {
  const claims = (entries: [number, LogClaim][]) => new Map(entries);
  const c = (lastNormalView: number, opNum: number, commit = 0): LogClaim => ({ lastNormalView, opNum, commit });

  test.each([
    // [claims, self, expected best, expected max commit]
    [[[0, c(3, 10, 8)], [1, c(3, 12, 9)], [2, c(2, 20, 9)]], 0, 1, 9], // longest among the latest view
    [[[0, c(2, 50, 40)], [1, c(4, 41, 41)]], 0, 1, 41], // a shorter log of a later view wins
    [[[0, c(3, 12)], [1, c(3, 12)], [2, c(3, 12)]], 2, 2, 0], // tie: self, no transfer
    [[[0, c(3, 12)], [2, c(3, 12)], [1, c(1, 99)]], 1, 0, 0], // tie without self: lowest index
    [[[4, c(0, 0)]], 4, 4, 0],
  ] as [[number, LogClaim][], number, number, number][])("%j self %i -> %i", (list, self, best, commit) => {
    const choice = chooseLog(claims(list), self)!;
    expect(choice.best).toBe(best);
    expect(choice.commit).toBe(commit);
    expect(choice.claim).toEqual(list.find(([s]) => s === best)![1]);
  });

  test("no claims, no choice", () => expect(chooseLog(new Map(), 0)).toBeUndefined());
});
