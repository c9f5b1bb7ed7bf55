// The client library without a cluster: config errors, size limits and unknown outcomes (nothing
// listens on these loopback ports), through the package's own "electrode/client" entry.

import { expect, test } from "bun:test";
import { ConfigError, connect, KvSizeError, UnknownOutcomeError } from "electrode/client";

const nobody = { f: 1, replicas: [1, 2, 3].map((id) => ({ id, addr: `127.0.0.1:4735${id}` })) };

test("a bad config object is a ConfigError naming the field", () => {
  expect(() => connect({ config: { f: 1, replicas: [] } })).toThrow(ConfigError);
  expect(() => connect({ config: { ...nobody, colour: 1 } })).toThrow(/colour/);
  expect(() => connect({ config: "/nonexistent/electrode.yaml" })).toThrow(/file not found/);
  expect(() => connect({ config: nobody, sessions: 0 })).toThrow(/sessions: expected an integer in 1\.\.4096/);
});

test("nobody answers: every operation in flight rejects with UnknownOutcomeError after the timeout", async () => {
  const kv = connect({ config: nobody, timeoutMs: 150, retryMs: 50, sessions: 2 });
  try {
    const t0 = performance.now();
    const results = await Promise.allSettled([kv.put("a", "1"), kv.get("b"), kv.cas("c", null, "x"), kv.delete("d")]);
    const elapsed = performance.now() - t0;
    for (const r of results) {
      expect(r.status).toBe("rejected");
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(UnknownOutcomeError);
      expect((r as PromiseRejectedResult).reason.reason).toBe("timeout");
    }
    expect((results[2] as PromiseRejectedResult).reason.message).toBe('cas "c": outcome unknown: no reply in time (is a majority of replicas running?)');
    // Two sessions for four operations: two rounds of the timeout.
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(3000);
    expect(kv.leaderId).toBe(1);
  } finally {
    kv.close();
  }
});

test("too big a key or value rejects with KvSizeError before anything is sent", async () => {
  const kv = connect({ config: nobody, timeoutMs: 100 });
  try {
    await expect(kv.put("k".repeat(2000), "v")).rejects.toThrow(KvSizeError);
    await expect(kv.cas("k", "e".repeat(800), "v".repeat(800))).rejects.toThrow(/a cas's key, expected value and value .* at most 1412/);
  } finally {
    kv.close();
  }
});

test("close rejects what is in flight, and later calls", async () => {
  const kv = connect({ config: nobody, timeoutMs: 10_000 });
  const pending = kv.get("x");
  kv.close();
  await expect(pending).rejects.toBeInstanceOf(UnknownOutcomeError);
  await expect(kv.get("y")).rejects.toThrow(/client closed/);
});
