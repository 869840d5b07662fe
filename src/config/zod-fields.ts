// Small zod field builders shared by the agent and controller configs, with messages
// that say what was expected (and "required" when the field is missing).

import { z } from 'zod';

// For zod's `error` option: "required: X" when the field is missing, "expected X" otherwise.
export const requiredOr =
  (expected: string) =>
  (iss: { input: unknown }): string =>
    iss.input === undefined ? `required: ${expected}` : iss.input === null ? `expected ${expected}, got an empty value (null)` : `expected ${expected}`;

export const pathField = (what: string) =>
  z.string({ error: `expected the path of ${what} as a string` }).min(1, { error: `expected the path of ${what}` }).max(4096);

// Fractions allowed (tests run with 0.1 s timers).
export const secondsField = (min: number, max: number) =>
  z
    .number({ error: `expected a number of seconds ${min}-${max}` })
    .min(min, { error: `expected at least ${min} seconds` })
    .max(max, { error: `expected at most ${max} seconds` });

export const intField = (min: number, max: number) =>
  z
    .number({ error: `expected an integer ${min}-${max}` })
    .int({ error: `expected an integer ${min}-${max}` })
    .min(min, { error: `expected an integer ${min}-${max}` })
    .max(max, { error: `expected an integer ${min}-${max}` });
