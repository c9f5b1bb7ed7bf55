import type { StateMachine } from "../core/types.ts";

const empty = new Uint8Array(0);

/** Executes nothing and answers with an empty result: measures the protocol alone. Its state is
 * empty, and so is its snapshot. */
export class NullMachine implements StateMachine {
  execute(_op: Uint8Array): Uint8Array {
    return empty;
  }

  snapshot(): Uint8Array {
    return empty;
  }

  restore(snapshot: Uint8Array): void {
    if (snapshot.length !== 0) throw new RangeError(`the null app's snapshot is empty, got ${snapshot.length} bytes`);
  }
}
