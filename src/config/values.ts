// Parsers for the scalar notations of config files (SPIs, protocols, hex keys). Each
// returns the value or an error message; messages never echo key material.

import { echo } from './errors.js';

// RFC 4303 §2.1: SPI values 1-255 are reserved by IANA, 0 is local-use only.
export const MIN_SPI = 256;
export const MAX_SPI = 0xffffffff;

// 4097, "4097", "0x1001" -> number, or an error message.
export function parseSpi(value: number | string): number | string {
  let n: number;
  if (typeof value === 'number') n = value;
  else {
    const t = value.trim();
    if (/^0x[0-9a-f]{1,8}$/i.test(t)) n = parseInt(t.slice(2), 16);
    else if (/^\d{1,10}$/.test(t)) n = Number(t);
    else return `expected an SPI as a decimal number or 0x-prefixed hex (at most 8 digits), got ${echo(t)}`;
  }
  if (!Number.isInteger(n) || n < 0 || n > MAX_SPI) return `expected an SPI from 256 to 4294967295 (0xffffffff), got ${String(value)}`;
  if (n < MIN_SPI) return `SPI ${n} is reserved (RFC 4303 §2.1: 0 is local-use, 1-255 are reserved by IANA); use 256 (0x100) or more`;
  return n;
}

// IANA "Assigned Internet Protocol Numbers" for the names people write in selectors.
export const PROTOCOL_NUMBERS: Readonly<Record<string, number>> = {
  icmp: 1,
  tcp: 6,
  udp: 17,
  gre: 47,
  esp: 50,
  ah: 51,
  icmpv6: 58,
  'ipv6-icmp': 58,
  sctp: 132,
  udplite: 136,
};

// "any" -> undefined; "tcp" / 6 -> 6; or an error message.
export function parseProtocol(value: number | string): number | undefined | string {
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0 || value > 255) return `expected an IP protocol number 0-255, got ${value}`;
    return value;
  }
  const t = value.trim().toLowerCase();
  if (t === 'any' || t === '*') return undefined;
  if (/^\d{1,3}$/.test(t)) return parseProtocol(Number(t));
  const n = PROTOCOL_NUMBERS[t];
  if (n === undefined) return `expected "any", a protocol number 0-255 or one of ${Object.keys(PROTOCOL_NUMBERS).join(', ')}; got ${echo(value)}`;
  return n;
}

// Protocols whose selectors have ports (RFC 4301 §4.4.1.1).
export function protocolHasPorts(protocol: number): boolean {
  return protocol === 6 || protocol === 17 || protocol === 132 || protocol === 136;
}

export function isIcmp(protocol: number): boolean {
  return protocol === 1 || protocol === 58;
}

// Hex key text: optional 0x prefix, ':' separators and whitespace allowed. Returns the
// bytes or an error message that says what is wrong without showing any of the key.
export function parseHexKey(text: string): Buffer | string {
  let t = text.replace(/[\s:]/g, '');
  if (/^0x/i.test(t)) t = t.slice(2);
  if (t.length === 0) return 'expected hex key material, got an empty value';
  if (!/^[0-9a-fA-F]*$/.test(t)) return 'expected hex digits (0-9, a-f), optionally with a 0x prefix; the value has other characters';
  if (t.length % 2 !== 0) return `expected an even number of hex digits, got ${t.length}`;
  return Buffer.from(t, 'hex');
}
