// The same comparison as capture-vectors.test.ts on a fresh capture made now, so that the
// check does not rest on one stored file. Needs root (network namespaces), ip, tcpdump and
// tshark; skipped otherwise.
import { test } from 'node:test';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertCoverage, captureVethTraffic, checkAgainstTshark, loadCapture } from './capture.js';

function missing(): string | false {
  if (process.getuid?.() !== 0) return 'needs root for network namespaces';
  for (const tool of ['ip', 'tcpdump', 'tshark']) {
    try {
      execFileSync(tool, ['--version'], { stdio: 'ignore' });
    } catch {
      try {
        execFileSync(tool, ['-V'], { stdio: 'ignore' });
      } catch {
        return `${tool} not installed`;
      }
    }
  }
  return false;
}

test('live capture: decoders and checksum verdicts agree with tshark', { skip: missing(), timeout: 30000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kp-wire-'));
  try {
    const pcap = await captureVethTraffic(dir);
    assertCoverage(checkAgainstTshark(loadCapture(pcap)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
