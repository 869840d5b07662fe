// Loads the JSON vector files in test/vectors/ (read from the source tree, relative to the
// compiled test file in dist/test/crypto/).
import { readFileSync } from 'node:fs';

export interface VectorFile<T> {
  readonly source: string;
  readonly cases: T[];
}

export function loadVectors<T>(fileName: string): T {
  const url = new URL(`../../../test/vectors/${fileName}`, import.meta.url);
  return JSON.parse(readFileSync(url, 'utf8')) as T;
}

// Hex as printed in RFCs: spaces, line breaks and ':' separators are ignored.
export function hex(text: string): Buffer {
  const clean = text.replace(/[\s:]/g, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(clean)) throw new Error(`bad hex in vector: ${text.slice(0, 40)}`);
  return Buffer.from(clean, 'hex');
}

// A field given either as `<name>Hex` or `<name>Ascii`.
export function field(record: Record<string, unknown>, name: string): Buffer {
  const h = record[`${name}Hex`];
  if (typeof h === 'string') return hex(h);
  const a = record[`${name}Ascii`];
  if (typeof a === 'string') return Buffer.from(a, 'latin1');
  throw new Error(`vector has neither ${name}Hex nor ${name}Ascii`);
}
