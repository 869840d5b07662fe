// Known-answer check against real packets: the stored capture in
// test/vectors/wire-capture.json (kernel-made packets, tcpdump, tshark's dissection; see
// capture.ts). Every IPv4/IPv6/UDP/TCP/ICMP/ICMPv6 field our decoders read must equal
// tshark's, and our checksum verdicts must equal tshark's (good and bad ones alike).
import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import { assertCoverage, checkAgainstTshark, fromStored, type StoredCapture } from './capture.js';

const stored = JSON.parse(
  readFileSync(new URL('../../../test/vectors/wire-capture.json', import.meta.url), 'utf8'),
) as StoredCapture;

test('stored capture: decoders and checksum verdicts agree with tshark', () => {
  const summary = checkAgainstTshark(fromStored(stored));
  assertCoverage(summary);
});
