// The bench JSON's `opt`: the fast paths the replicas said they run (src/node/info.ts), checked
// against the --opt the user gave, if any. The user's --opt is only a fallback, used when no
// replica could be asked.

import { fastPathsLabel, type ReplicaInfo } from "../node/info.ts";

/** The replicas' storage, as one word (BenchJson.storage). */
export function benchStorage(answers: readonly (ReplicaInfo | undefined)[]): string {
  const modes = new Set(answers.filter((a): a is ReplicaInfo => a !== undefined).map((a) => a.storage));
  return modes.size === 0 ? "unknown" : modes.size > 1 ? "mixed" : [...modes][0]!;
}

export interface BenchOpt {
  /** "none", "all", a list ("tc-broadcast,quorum-prune"), "mixed" when the replicas that answered
   * disagree, or "unknown" when none answered and no --opt was given. */
  readonly opt: string;
  /** Each replica's answer by id; null: no answer in time. Absent when none answered. */
  readonly byReplica?: Record<string, string | null>;
  /** One line for the user, and whether it is a warning. */
  readonly message: string;
  readonly warn: boolean;
}

/**
 * `answers` are askInfo's, one per replica id in `ids` (same order); `label` the user's --opt as
 * bits (parseFastPaths), if given.
 */
export function benchOpt(ids: readonly number[], answers: readonly (ReplicaInfo | undefined)[], label: number | undefined, timeoutMs: number): BenchOpt {
  const labelText = label === undefined ? undefined : fastPathsLabel(label);
  const answered = answers.filter((a): a is ReplicaInfo => a !== undefined);
  if (answered.length === 0) {
    const opt = labelText ?? "unknown";
    return { opt, message: `could not ask the replicas which fast paths they run (no answer within ${timeoutMs} ms): opt is ${labelText ? `the --opt given, ${opt}` : opt}`, warn: true };
  }
  const byReplica = Object.fromEntries(ids.map((id, i) => [String(id), answers[i]?.opt ?? null]));
  const silent = ids.filter((_, i) => answers[i] === undefined);
  const silentText = silent.length > 0 ? `; replica ${silent.join(", ")} did not answer within ${timeoutMs} ms` : "";
  const opts = new Set(answered.map((a) => a.opt));
  if (opts.size > 1) {
    const each = ids.map((id, i) => `${id}: ${answers[i]?.opt ?? "no answer"}`).join(", ");
    return { opt: "mixed", byReplica, message: `the replicas run different fast paths (${each}): opt is mixed`, warn: true };
  }
  const opt = answered[0]!.opt;
  if (labelText !== undefined && labelText !== opt) {
    return { opt, byReplica, message: `--opt ${labelText} given, but the replicas run ${opt}: opt is ${opt}${silentText}`, warn: true };
  }
  const who = silent.length > 0 ? "the replicas that answered report" : "every replica reports";
  return { opt, byReplica, message: `fast paths: ${opt}, as ${who}${silentText}`, warn: silent.length > 0 };
}
