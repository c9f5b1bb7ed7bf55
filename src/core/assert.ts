// Cheap invariant checks that stay on in production. A violated invariant means the replica's
// state can no longer be trusted: throwing (and so stopping the replica) is safer than going on.

export class AssertionError extends Error {}

export function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new AssertionError(`replica invariant violated: ${message}`);
}
