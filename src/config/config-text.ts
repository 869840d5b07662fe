// Reading a config file and turning its YAML (or JSON, which is YAML too) into plain
// values, for the agent and controller configs. Every failure is a ConfigError naming the
// file; YAML errors name the line only, never quote it (the line may hold a secret).

import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { ConfigError, echo, type ConfigIssue } from './errors.js';
import { isPlainObject } from './fields.js';

export const MAX_CONFIG_FILE_BYTES = 4 * 1024 * 1024;

// The text of a config file; ConfigError when it is missing, not a file or too large.
export function readConfigFile(path: string): string {
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new ConfigError(path, [{ path: '', message: 'not a regular file' }]);
    if (st.size > MAX_CONFIG_FILE_BYTES) throw new ConfigError(path, [{ path: '', message: 'larger than 4 MiB; not a keyplane config' }]);
    return readFileSync(path, 'utf8');
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(path, [{ path: '', message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? 'error'}` }]);
  }
}

// The top-level mapping of a YAML/JSON document. `expected` says what the file should
// hold, for the message when it is something else (e.g. "the agent settings").
export function parseConfigText(text: string, file: string, expected: string): Record<string, unknown> {
  let value: unknown;
  try {
    // uniqueKeys: a repeated key is an error, not a silent override. prettyErrors off:
    // those quote the offending line; we name the line number only.
    const lines = new LineCounter();
    const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false, strict: true, lineCounter: lines });
    if (doc.errors.length > 0) {
      throw new ConfigError(
        file,
        doc.errors.map((e) => ({ path: `line ${lines.linePos(e.pos[0]).line}`, message: `not valid YAML: ${firstLine(e.message)}` })),
      );
    }
    // maxAliasCount bounds alias expansion ("billion laughs").
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(file, [{ path: '', message: `not valid YAML: ${firstLine(e instanceof Error ? e.message : String(e))}` }]);
  }
  if (!isPlainObject(value)) throw new ConfigError(file, [{ path: '', message: `expected a mapping with ${expected}` }]);
  return value;
}

// The parser's message, first line only, with anything that looks like key material left
// out: some of its messages quote the source text ("Block scalar header includes extra
// characters: >..."), and that text may be a key.
function firstLine(s: string): string {
  const line = (s.split('\n')[0] ?? s).slice(0, 200);
  return line
    .split(/(\s+)/)
    .map((word) => (word.length > 40 || /[0-9a-f]{16,}/i.test(word.replace(/[:]/g, '')) ? HIDDEN : word))
    .join('');
}

// A path written in a config file, relative to the folder of that file (like keyFile).
export function resolveConfigPath(configFile: string, path: string): string {
  return isAbsolute(path) ? path : resolve(dirname(configFile), path);
}

// The ConfigError for a list of issues, with key-looking text taken out of the messages
// once more: messages built by shared helpers (fields.ts names unknown fields as written)
// may quote text from the file, and a key pasted as a field name must not reach a
// terminal either. Quoted values go through echo(); runs of 16+ hex digits, or of 8+
// ":"-separated hex bytes, are cut wherever they are (no address, SPI or port has them).
export function configError(file: string, issues: readonly ConfigIssue[]): ConfigError {
  return new ConfigError(file, issues.map((i) => ({ path: i.path, message: redact(i.message) })));
}

const HIDDEN = '(value not shown)';

function redact(message: string): string {
  return message
    .replace(/"((?:[^"\\]|\\.)*)"/g, (quoted, inner: string) => (echo(inner).startsWith('"') ? quoted : echo(inner)))
    .replace(/[0-9a-f]{16,}/gi, HIDDEN)
    .replace(/\b(?:[0-9a-f]{2}[:\s]+){7,}[0-9a-f]{2}\b/gi, HIDDEN);
}
