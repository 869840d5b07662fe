// Errors of the config layer. A config error lists every problem found in one file, each
// with the field path (e.g. `sas[1].encryption.key`) and what was expected, so an operator
// can fix a file in one go. Messages never contain key material.

import { KeyplaneError } from '../util/errors.js';

export interface ConfigIssue {
  readonly path: string; // e.g. "sas[1].encryption.key"; "" for the whole file
  readonly message: string; // what was expected / what is wrong, without secret values
}

export class ConfigError extends KeyplaneError {
  readonly file: string;
  readonly issues: readonly ConfigIssue[];
  constructor(file: string, issues: readonly ConfigIssue[]) {
    super('config.invalid', formatIssues(file, issues));
    this.file = file;
    this.issues = issues;
  }
}

function formatIssues(file: string, issues: readonly ConfigIssue[]): string {
  const head = `${file}: ${issues.length} problem${issues.length === 1 ? '' : 's'}`;
  return [head, ...issues.map((i) => `  ${i.path === '' ? '(file)' : i.path}: ${i.message}`)].join('\n');
}

// Joins a path the way a person writes it: a.b[2].c
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

// Collects issues while a config is checked; `fail()` throws them all at once.
export class IssueList {
  private readonly list: ConfigIssue[] = [];
  add(path: string, message: string): void {
    this.list.push({ path, message });
  }
  get length(): number {
    return this.list.length;
  }
  get all(): readonly ConfigIssue[] {
    return this.list;
  }
}

// Quotes a value the user wrote, for a message. Something that looks like key material
// (long, or a run of 16+ hex digits) is described instead of shown: a key pasted into the
// wrong field must not end up in a terminal or a log.
export function echo(value: string): string {
  if (value.length > 40 || /[0-9a-f]{16,}/i.test(value.replace(/[\s:]/g, ''))) {
    return `(a ${value.length}-character value, not shown in case it is key material)`;
  }
  return JSON.stringify(value);
}
