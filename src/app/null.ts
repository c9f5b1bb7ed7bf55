import type { StateMachine } from "../core/types.ts";

const empty = new Uint8Array(0);

/** Executes nothing and answers with an empty result: measures the protocol alone. */
export class NullMachine implements StateMachine {
  execute(_op: Uint8Array): Uint8Array {
    return empty;
  }
}
