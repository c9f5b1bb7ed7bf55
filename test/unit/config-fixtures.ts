// Shared by the config tests: the contract's minimal config and a helper that expects a ConfigError.
import { expect } from "bun:test";
import { ConfigError, parseConfig } from "../../src/config/config.ts";

export const minimal = `f: 1
replicas:
  - { id: 1, addr: 10.20.0.1:12345 }
  - { id: 2, addr: 10.20.0.2:12345 }
  - { id: 3, addr: 10.20.0.3:12345 }
`;

/** The message of the ConfigError that parsing `text` throws (fails the test when none is). */
export function errorOf(text: string): string {
  try {
    parseConfig(text, "c.yaml");
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error("expected a ConfigError");
}
