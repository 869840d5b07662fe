// Field-by-field checking of an object against a zod shape. zod stops at the object that
// fails; checking each field on its own lets the loader go on to the cross-field rules
// for the fields that are fine, so one run reports every problem in the file.

import type { z } from 'zod';
import { IssueList, formatPath } from './errors.js';

export function zodIssuesAt(error: z.ZodError, prefix: readonly PropertyKey[], issues: IssueList): void {
  for (const iss of error.issues) {
    const path = formatPath([...prefix, ...iss.path]);
    if (iss.code === 'unrecognized_keys') {
      issues.add(path, `unknown field${iss.keys.length > 1 ? 's' : ''} ${iss.keys.map((k) => `"${k}"`).join(', ')}`);
    } else {
      issues.add(path, iss.message);
    }
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export type Fields<S extends z.ZodRawShape> = { -readonly [K in keyof S]?: z.output<S[K]> };

// Parses each field of `shape` separately. Returns the fields that are valid, and whether
// all of them were, and which failed; unknown fields are reported. `undefined` when `value` is no object.
export function parseFields<S extends z.ZodRawShape>(
  shape: S,
  value: unknown,
  path: readonly PropertyKey[],
  issues: IssueList,
  what: string,
): { fields: Fields<S>; complete: boolean; failed: ReadonlySet<string> } | undefined {
  if (!isPlainObject(value)) {
    issues.add(formatPath(path), `expected ${what} (a mapping of field: value), got ${describe(value)}`);
    return undefined;
  }
  const fields: Fields<S> = {};
  const failed = new Set<string>();
  let complete = true;
  for (const key of Object.keys(shape) as (keyof S & string)[]) {
    const r = (shape[key] as z.ZodType).safeParse(Object.hasOwn(value, key) ? value[key] : undefined);
    if (r.success) fields[key] = r.data as z.output<S[typeof key]>;
    else {
      complete = false;
      failed.add(key);
      zodIssuesAt(r.error, [...path, key], issues);
    }
  }
  const unknown = Object.keys(value).filter((k) => !Object.hasOwn(shape, k));
  if (unknown.length > 0) {
    complete = false;
    const known = Object.keys(shape).join(', ');
    issues.add(formatPath(path), `unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}; expected: ${known}`);
  }
  return { fields, complete, failed };
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  return `a ${typeof value}`;
}
