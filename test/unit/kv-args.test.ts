// The kv workload's flags: defaults keep the bench's old mix, each bad value is a usage error
// naming its flag.

import { describe, expect, test } from "bun:test";
import { UsageError } from "../../src/cli/common.ts";
import { givenKvFlags, kvKeyBytesMax, kvValueBytesMax, parseKvWorkload } from "../../src/cli/kv-args.ts";
import { valueTagBytes } from "../../src/bench/kv-workload.ts";
import { requestOpBytesMax } from "../../src/core/log.ts";

describe("kv workload flags", () => {
  test("defaults: half reads over 16 uniform keys, unsized values, seeded by the clock", () => {
    expect(parseKvWorkload({}, 1234)).toEqual({ readRatio: 0.5, keys: 16, keyDist: "uniform", seed: 1234 });
    expect(givenKvFlags({})).toEqual([]);
  });

  test("every flag given", () => {
    const a = { "read-ratio": "0.9", keys: "1000", "value-bytes": "64", "key-dist": "zipf", seed: "99" };
    expect(parseKvWorkload(a)).toEqual({ readRatio: 0.9, keys: 1000, valueBytes: 64, keyDist: "zipf", seed: 99 });
    expect(givenKvFlags(a).sort()).toEqual(["key-dist", "keys", "read-ratio", "seed", "value-bytes"]);
    expect(parseKvWorkload({ "read-ratio": "0" }).readRatio).toBe(0);
    expect(parseKvWorkload({ "read-ratio": "1" }).readRatio).toBe(1);
  });

  const bad: [Record<string, string>, RegExp][] = [
    [{ "read-ratio": "1.01" }, /--read-ratio: expected a number in 0\.\.1/],
    [{ "read-ratio": "-0.1" }, /--read-ratio/],
    [{ "read-ratio": "half" }, /--read-ratio/],
    [{ keys: "0" }, /--keys: expected an integer in 1\.\.1000000/],
    [{ keys: "2.5" }, /--keys/],
    [{ keys: "1000001" }, /--keys/],
    [{ "key-dist": "pareto" }, /--key-dist: expected uniform or zipf, got 'pareto'/],
    [{ "value-bytes": String(valueTagBytes - 1) }, new RegExp(`--value-bytes: expected an integer in ${valueTagBytes}\\.\\.`)],
    [{ "value-bytes": "100000" }, /--value-bytes/],
    [{ seed: "-1" }, /--seed/],
    [{ seed: String(2 ** 32) }, /--seed/],
    [{ "cas-ratio": "1.5" }, /--cas-ratio: expected a number in 0\.\.1/],
    [{ "delete-ratio": "x" }, /--delete-ratio/],
    [{ "read-ratio": "0.5", "cas-ratio": "0.4", "delete-ratio": "0.2" }, /--read-ratio 0\.5, --delete-ratio 0\.2 and --cas-ratio 0\.4 add up to more than 1/],
  ];
  for (const [flags, message] of bad) {
    test(`rejects ${JSON.stringify(flags)}`, () => {
      expect(() => parseKvWorkload(flags)).toThrow(UsageError);
      expect(() => parseKvWorkload(flags)).toThrow(message);
    });
  }

  test("deletes and cas ops in the mix: given ones only; a cas carries two values, so values are at most half", () => {
    const a = { "read-ratio": "0.2", "delete-ratio": "0.1", "cas-ratio": "0.7" };
    expect(parseKvWorkload(a, 1)).toEqual({ readRatio: 0.2, deleteRatio: 0.1, casRatio: 0.7, keys: 16, keyDist: "uniform", seed: 1 });
    expect(givenKvFlags(a).sort()).toEqual(["cas-ratio", "delete-ratio", "read-ratio"]);
    const max = Math.floor((requestOpBytesMax - 6 - kvKeyBytesMax(16)) / 2);
    expect(parseKvWorkload({ "cas-ratio": "0.5", "value-bytes": String(max) }).valueBytes).toBe(max);
    expect(() => parseKvWorkload({ "cas-ratio": "0.5", "value-bytes": String(max + 1) })).toThrow(/--value-bytes/);
    expect(parseKvWorkload({ "delete-ratio": "0.5", "value-bytes": String(max + 1) }).valueBytes).toBe(max + 1);
  });

  test("the largest value fits in one op beside the longest key", () => {
    const keys = 16;
    const max = kvValueBytesMax(kvKeyBytesMax(keys));
    expect(kvKeyBytesMax(keys)).toBe("abcdefgh.k15".length);
    expect(max + "abcdefgh.k15".length + 3).toBe(requestOpBytesMax); // the longest op a replica accepts
    expect(parseKvWorkload({ keys: String(keys), "value-bytes": String(max) }).valueBytes).toBe(max);
    expect(() => parseKvWorkload({ keys: String(keys), "value-bytes": String(max + 1) })).toThrow(/--value-bytes/);
  });
});
