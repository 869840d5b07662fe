// Forward secrecy (beyond seed 004) and "distributed keys only ever travel encrypted".
//
// An attacker records the whole channel and later learns the init key. It then does the
// best it can: decrypt whatever the keys it knows open, and turn every key distribution it
// reads into the next key (kdf.ts without the DH secret, which it cannot have). With
// forward secrecy off this unrolls the whole chain; with it on, nothing past the init-key
// packets opens. The same attacker code succeeds in one case and fails in the other, so
// the test can fail both ways.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Duo } from './duo.js';
import { contains, openPacket, spiOf } from './inspect.js';
import { deriveGenerationKey } from '../../src/keyroll/kdf.js';
import type { KeyrollVariant } from '../../src/keyroll/types.js';

interface Recorded {
  readonly direction: 's2r' | 'r2s';
  readonly bytes: Uint8Array;
}

// A session with an initialisation, several rotations (both variants' triggers), a lost
// distribution answered by a resend, and a re-initialisation.
function session(variant: KeyrollVariant, forwardSecrecy: boolean): { d: Duo; recorded: Recorded[]; secrets: Uint8Array[] } {
  const d = new Duo({ variant, forwardSecrecy, sender: { rotationPeriodMs: 40_000 }, receiver: { maxResends: 2 } });
  const recorded: Recorded[] = [];
  const secrets: Uint8Array[] = [];
  const keep = (): void => {
    for (const p of d.toSender) recorded.push({ direction: 'r2s', bytes: p });
    for (const p of d.toReceiver) recorded.push({ direction: 's2r', bytes: p });
    for (const k of [d.senderDurable?.latest, d.senderDurable?.previous, d.receiverDurable?.latest]) {
      if (k !== undefined && k !== null && k !== 'init') secrets.push(k.material);
    }
    if (d.senderDurable?.latestDistribution) secrets.push(d.senderDurable.latestDistribution.seed);
  };
  const round = (lose = false): void => {
    d.receiverTimer();
    keep();
    d.deliverToSender();
    keep();
    d.deliverToReceiver({ drop: lose });
  };
  for (let i = 0; i < 8; i++) {
    round(i === 3); // the 4th answer (a rotation) is lost and re-sent on the next round
    d.advance(15_000);
  }
  d.receiverInput({ type: 'reinitialise' });
  while (d.toSender.length > 0) {
    keep();
    d.deliverToSender();
    keep();
    d.deliverToReceiver();
  }
  for (let i = 0; i < 4; i++) {
    round();
    d.advance(15_000);
  }
  assert.ok(d.rview().latest!.generation >= 5, 'several keys were made');
  return { d, recorded, secrets };
}

function attack(d: Duo, recorded: Recorded[]): { initPackets: number; otherPackets: number; keysLearned: Set<string> } {
  const known = new Map<number, Uint8Array>([[d.params.initSpi, d.params.initKey]]);
  const read = new Set<number>();
  let initPackets = 0;
  let otherPackets = 0;
  for (let progress = true; progress; ) {
    progress = false;
    recorded.forEach((p, i) => {
      if (read.has(i)) return;
      const spi = spiOf(p.bytes);
      const key = known.get(spi);
      if (key === undefined) return;
      const seen = openPacket(key, spi, p.direction, p.bytes);
      if (seen === null) return;
      read.add(i);
      progress = true;
      if (spi === d.params.initSpi) initPackets += 1;
      else otherPackets += 1;
      const dist = seen.items.distribution;
      if (dist !== null && !known.has(dist.spi)) {
        known.set(
          dist.spi,
          deriveGenerationKey({
            seed: dist.seed,
            dhSecret: null, // the attacker has no ephemeral private value
            kind: dist.kind,
            generation: dist.generation,
            spi: dist.spi,
            deviceId: d.params.deviceId,
            receiverPublic: dist.ephemeral?.receiverPublic ?? null,
            senderPublic: dist.ephemeral?.senderPublic ?? null,
          }),
        );
      }
    });
  }
  return { initPackets, otherPackets, keysLearned: new Set([...known.keys()].filter((s) => s !== d.params.initSpi).map(String)) };
}

for (const variant of ['explicit', 'spi'] as const) {
  test(`forward secrecy off (${variant}): whoever learns the init key reads the whole recorded channel`, () => {
    const { d, recorded } = session(variant, false);
    const r = attack(d, recorded);
    assert.ok(r.initPackets > 0);
    assert.equal(r.otherPackets, recorded.length - r.initPackets, 'every packet opens');
  });

  test(`forward secrecy on (${variant}): the init key opens only the init-key packets, no distributed key is learned`, () => {
    const { d, recorded } = session(variant, true);
    const r = attack(d, recorded);
    assert.ok(r.initPackets > 0, 'the init exchanges themselves are readable');
    assert.equal(r.otherPackets, 0, 'nothing under a distributed key');
    const underInit = recorded.filter((p) => spiOf(p.bytes) === d.params.initSpi).length;
    assert.ok(recorded.length > underInit * 3, 'most traffic is under distributed keys');
  });
}

test('distributed keys and key seeds never appear in any packet', () => {
  for (const fs of [false, true]) {
    for (const variant of ['explicit', 'spi'] as const) {
      const { recorded, secrets } = session(variant, fs);
      assert.ok(secrets.length > 10);
      for (const s of secrets) {
        for (const p of recorded) assert.equal(contains(p.bytes, s), false);
      }
    }
  }
});
