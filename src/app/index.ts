import type { StateMachine } from "../core/types.ts";
import { KvMachine } from "./kv.ts";
import { NullMachine } from "./null.ts";

export type AppName = "kv" | "null";

export function createApp(name: AppName): StateMachine {
  return name === "kv" ? new KvMachine() : new NullMachine();
}
