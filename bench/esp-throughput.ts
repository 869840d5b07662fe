// In-process ESP throughput (issue 2 benchmark): keyplane's engine encrypting and
// decrypting 1400-byte inner packets on one core, for each algorithm, next to the bare
// node:crypto per-call cost of the same cipher and `openssl speed -evp`, all measured in
// this run. Run: node dist/bench/esp-throughput.js [--seconds 1] [--rounds 3]
//
// "overhead" = how much slower keyplane's ESP path is than the bare cipher call for the
// same packet: framing, padding, sequence numbers, anti-replay, SA and SPD lookups.
// Target (issue 2): at most 30% for AES-128-GCM, and at least 1 Gbit/s.

import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { createIpsecEngine } from '../src/ipsec/engine.js';
import type { SaConfig, Policy } from '../src/ipsec/types.js';
import { encryptionTransform, integrityTransform } from '../src/crypto/registry.js';
import { ENCR, INTEG } from '../src/crypto/types.js';

const PACKET_BYTES = 1400;
const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1]) || 1;

interface Suite {
  readonly name: string;
  readonly encr: number;
  readonly keyBits: number;
  readonly integ?: number;
  // How to measure the bare cipher with node:crypto and openssl.
  readonly nodeCipher: string;
  readonly nodeHmac?: string;
  readonly opensslEvp: string;
  readonly opensslHmac?: string;
}

const SUITES: Suite[] = [
  { name: 'aes128gcm16', encr: ENCR.AES_GCM_16, keyBits: 128, nodeCipher: 'aes-128-gcm', opensslEvp: 'aes-128-gcm' },
  { name: 'aes256gcm16', encr: ENCR.AES_GCM_16, keyBits: 256, nodeCipher: 'aes-256-gcm', opensslEvp: 'aes-256-gcm' },
  { name: 'chacha20poly1305', encr: ENCR.CHACHA20_POLY1305, keyBits: 256, nodeCipher: 'chacha20-poly1305', opensslEvp: 'chacha20-poly1305' },
  { name: 'aes128-sha256', encr: ENCR.AES_CBC, keyBits: 128, integ: INTEG.HMAC_SHA2_256_128, nodeCipher: 'aes-128-cbc', nodeHmac: 'sha256', opensslEvp: 'aes-128-cbc', opensslHmac: 'sha256' },
  { name: 'aes256-sha512', encr: ENCR.AES_CBC, keyBits: 256, integ: INTEG.HMAC_SHA2_512_256, nodeCipher: 'aes-256-cbc', nodeHmac: 'sha512', opensslEvp: 'aes-256-cbc', opensslHmac: 'sha512' },
  { name: 'aes128-sha1', encr: ENCR.AES_CBC, keyBits: 128, integ: INTEG.HMAC_SHA1_96, nodeCipher: 'aes-128-cbc', nodeHmac: 'sha1', opensslEvp: 'aes-128-cbc', opensslHmac: 'sha1' },
];

// A minimal IPv4/UDP inner packet 10.1.0.1:5000 -> 10.2.0.1:5001 of PACKET_BYTES.
function innerPacket(): Buffer {
  const p = randomBytes(PACKET_BYTES);
  p[0] = 0x45; p[1] = 0; p.writeUInt16BE(PACKET_BYTES, 2); p.writeUInt32BE(0, 4);
  p[8] = 64; p[9] = 17; p.writeUInt16BE(0, 10);
  Buffer.from([10, 1, 0, 1, 10, 2, 0, 1]).copy(p, 12);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += p.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  p.writeUInt16BE(~sum & 0xffff, 10);
  p.writeUInt16BE(5000, 20); p.writeUInt16BE(5001, 22); p.writeUInt16BE(PACKET_BYTES - 20, 24); p.writeUInt16BE(0, 26);
  return p;
}

// Runs fn repeatedly for `seconds`, returns operations per second.
function rate(fn: () => void): number {
  for (let i = 0; i < 2000; i++) fn(); // warm up the JIT
  const start = process.hrtime.bigint();
  const limit = BigInt(Math.round(seconds * 1e9));
  let n = 0;
  let elapsed = 0n;
  do {
    for (let i = 0; i < 500; i++) fn();
    n += 500;
    elapsed = process.hrtime.bigint() - start;
  } while (elapsed < limit);
  return n / (Number(elapsed) / 1e9);
}

// Like rate(), for operations that consume their input (ESP decryption: each packet can
// be accepted once): `make` builds a batch untimed, `op` is timed over every item.
function timedBatches<T>(make: () => T[], op: (item: T) => void): number {
  for (const item of make()) op(item); // warm up
  let n = 0;
  let elapsedNs = 0n;
  const limit = BigInt(Math.round(seconds * 1e9));
  while (elapsedNs < limit) {
    const batch = make();
    const start = process.hrtime.bigint();
    for (const item of batch) op(item);
    elapsedNs += process.hrtime.bigint() - start;
    n += batch.length;
  }
  return n / (Number(elapsedNs) / 1e9);
}

// The bare node:crypto cost of one packet: one cipher object per call (as any per-packet
// user of node:crypto pays), the same bytes, no ESP framing. Returns calls per second.
function bareNode(s: Suite, pkt: Buffer): { enc: number; dec: number } {
  const key = randomBytes(s.keyBits / 8);
  const iv = randomBytes(s.nodeCipher.endsWith('cbc') ? 16 : 12);
  if (s.nodeHmac) {
    const macKey = randomBytes(32);
    const body = pkt.subarray(0, PACKET_BYTES - (PACKET_BYTES % 16));
    const seal = (): Buffer => {
      const c = createCipheriv(s.nodeCipher, key, iv).setAutoPadding(false);
      const ct = Buffer.concat([c.update(body), c.final()]);
      createHmac(s.nodeHmac!, macKey).update(ct).digest();
      return ct;
    };
    // Decrypt distinct buffers, as ESP does (one hot buffer would flatter the bare figure).
    const cts = Array.from({ length: 2048 }, () => seal());
    return {
      enc: rate(() => void seal()),
      dec: timedBatches(
        () => cts,
        (ct) => {
          createHmac(s.nodeHmac!, macKey).update(ct).digest();
          const d = createDecipheriv(s.nodeCipher, key, iv).setAutoPadding(false);
          d.update(ct);
          d.final();
        },
      ),
    };
  }
  const aad = randomBytes(8);
  const opts = { authTagLength: 16 } as never;
  type Aead = ReturnType<typeof createCipheriv> & { setAAD(b: Buffer): void; getAuthTag(): Buffer };
  type AeadD = ReturnType<typeof createDecipheriv> & { setAAD(b: Buffer): void; setAuthTag(b: Buffer): void };
  const seal = (): [Buffer, Buffer] => {
    const c = createCipheriv(s.nodeCipher, key, iv, opts) as Aead;
    c.setAAD(aad);
    const ct = c.update(pkt);
    c.final();
    return [ct, c.getAuthTag()];
  };
  const sealed = Array.from({ length: 2048 }, () => seal());
  return {
    enc: rate(() => void seal()),
    dec: timedBatches(
      () => sealed,
      ([ct, tag]) => {
        const d = createDecipheriv(s.nodeCipher, key, iv, opts) as AeadD;
        d.setAAD(aad);
        d.setAuthTag(tag);
        d.update(ct);
        d.final();
      },
    ),
  };
}

function sa(s: Suite, direction: 'in' | 'out', keyMaterial: Buffer, integKey: Buffer | undefined): SaConfig {
  return {
    spi: 0x1000,
    direction,
    mode: 'tunnel',
    localAddress: direction === 'out' ? '192.0.2.1' : '192.0.2.2',
    remoteAddress: direction === 'out' ? '192.0.2.2' : '192.0.2.1',
    encap: { localPort: 4500, remotePort: 4500 },
    encryption: { id: s.encr, keyBits: s.keyBits, keyMaterial },
    ...(s.integ !== undefined && integKey ? { integrity: { id: s.integ, key: integKey } } : {}),
    esn: true,
    replayWindow: 1024,
    lifetime: { soft: {}, hard: {} },
    selector: direction === 'out'
      ? { local: { start: '10.1.0.0', end: '10.1.0.255' }, remote: { start: '10.2.0.0', end: '10.2.0.255' } }
      : { local: { start: '10.2.0.0', end: '10.2.0.255' }, remote: { start: '10.1.0.0', end: '10.1.0.255' } },
    policyId: 'p',
  };
}

function keyplane(s: Suite, pkt: Buffer): { enc: number; dec: number } {
  const encr = encryptionTransform(s.encr, s.keyBits);
  const keyMaterial = randomBytes(encr.keyMaterialBytes);
  const integKey = s.integ !== undefined ? randomBytes(integrityTransform(s.integ).keyBytes) : undefined;
  const policy: Policy = {
    id: 'p', priority: 1, action: 'protect',
    selector: { local: { start: '10.1.0.0', end: '10.1.0.255' }, remote: { start: '10.2.0.0', end: '10.2.0.255' } },
    protect: { mode: 'tunnel', localTunnel: '192.0.2.1', remoteTunnel: '192.0.2.2' },
  };
  const a = createIpsecEngine();
  a.installPolicy(policy);
  a.installSa(sa(s, 'out', keyMaterial, integKey), 0);
  const b = createIpsecEngine();
  b.installSa(sa(s, 'in', keyMaterial, integKey), 0);

  const enc = rate(() => {
    const r = a.protectOutbound(pkt, 0);
    if (r.kind !== 'send') throw new Error(`encrypt failed: ${JSON.stringify(r)}`);
  });
  // Decrypt fresh, in-order batches so the replay window accepts every packet; only the
  // decryption is timed (the batches are sealed outside the measured time).
  const dec = timedBatches(
    () => {
      const batch: Buffer[] = [];
      for (let k = 0; k < 2048; k++) {
        const r = a.protectOutbound(pkt, 0);
        if (r.kind === 'send') batch.push(r.esp);
      }
      return batch;
    },
    (esp) => {
      const r = b.processInbound(esp, 0);
      if (r.kind !== 'deliver') throw new Error(`decrypt failed: ${JSON.stringify(r)}`);
    },
  );
  return { enc, dec };
}

function opensslSpeed(s: Suite): number | undefined {
  try {
    const args = ['speed', '-mr', '-bytes', String(PACKET_BYTES), '-seconds', String(Math.max(1, Math.round(seconds)))];
    const cipherOut = execFileSync('openssl', [...args, '-evp', s.opensslEvp], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const cipherBps = Number(/^\+F:\d+:[^:]+:([\d.]+)/m.exec(cipherOut)?.[1]);
    if (!s.opensslHmac) return cipherBps;
    const macOut = execFileSync('openssl', [...args, '-hmac', s.opensslHmac], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const macBps = Number(/^\+F:\d+:[^:]+:([\d.]+)/m.exec(macOut)?.[1]);
    // Encrypt-then-MAC over the same bytes: the times add up.
    return 1 / (1 / cipherBps + 1 / macBps);
  } catch {
    return undefined;
  }
}

const gbps = (pps: number) => (pps * PACKET_BYTES * 8) / 1e9;
const pkt = innerPacket();
const rows: string[][] = [];
const pct = (bare: number, ours: number) => `${Math.round((bare / ours - 1) * 100)}%`;
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
// Bare and keyplane measurements alternate over several rounds and the medians are
// reported, so a burst of load from elsewhere on the machine skews one round, not a row.
const ROUNDS = Number(process.argv[process.argv.indexOf('--rounds') + 1]) || 3;
// AEAD suites run twice: with the native AEAD context (the default, docs/architecture.md
// "Native AEAD") and with KEYPLANE_NATIVE_CRYPTO=0, the pure node:crypto path, whose
// overhead over the bare node:crypto call is the ESP framing cost the issue-2 target is about.
const variants = (s: Suite): { label: string; pure: boolean }[] =>
  s.integ === undefined
    ? [
        { label: s.name, pure: false },
        { label: `${s.name} (node:crypto)`, pure: true },
      ]
    : [{ label: s.name, pure: false }];
for (const s of SUITES) {
  for (const v of variants(s)) {
    const bareRuns: { enc: number; dec: number }[] = [];
    const ourRuns: { enc: number; dec: number }[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      bareRuns.push(bareNode(s, pkt));
      if (v.pure) process.env['KEYPLANE_NATIVE_CRYPTO'] = '0';
      try {
        ourRuns.push(keyplane(s, pkt));
      } finally {
        delete process.env['KEYPLANE_NATIVE_CRYPTO'];
      }
    }
    const bare = { enc: median(bareRuns.map((x) => x.enc)), dec: median(bareRuns.map((x) => x.dec)) };
    const ours = { enc: median(ourRuns.map((x) => x.enc)), dec: median(ourRuns.map((x) => x.dec)) };
    const ossl = opensslSpeed(s);
    rows.push([
      v.label,
      Math.round(ours.enc).toLocaleString('en'),
      gbps(ours.enc).toFixed(2),
      gbps(bare.enc).toFixed(2),
      pct(bare.enc, ours.enc),
      Math.round(ours.dec).toLocaleString('en'),
      gbps(ours.dec).toFixed(2),
      gbps(bare.dec).toFixed(2),
      pct(bare.dec, ours.dec),
      ossl === undefined ? 'n/a' : ((ossl * 8) / 1e9).toFixed(2),
    ]);
  }
}
const header = ['suite', 'enc pkt/s', 'enc Gbit/s', 'bare enc', 'enc overhead', 'dec pkt/s', 'dec Gbit/s', 'bare dec', 'dec overhead', 'openssl enc'];
const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
const line = (r: string[]) => r.map((v, c) => v.padStart(widths[c]!)).join('  ');
console.log(`ESP per ${PACKET_BYTES}-byte inner packet, one core, median of ${ROUNDS} rounds of ${seconds}s (tunnel mode, ESN, UDP-encap framing)`);
console.log(line(header));
console.log('(Gbit/s of inner packets; bare = one node:crypto cipher call per packet, no ESP; overhead = extra time per packet over bare; openssl = `openssl speed -evp` (+ `-hmac` time for CBC suites), 1400-byte blocks)');
for (const r of rows) console.log(line(r));
