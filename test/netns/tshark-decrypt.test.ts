// The independent decoder (issue 2): keyplane's ESP engine produces ESP-in-UDP packets
// with real SAs, a real UDP/4500 socket sends them over loopback while tshark captures,
// then tshark decrypts the capture with the same keys (its ESP SA table, "esp_sa" UAT)
// and the inner packets it recovers must equal what went into the engine, byte for byte.
// tshark also checks the ICV, and its view of the padding must follow RFC 4303 §2.4.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lookupEncryption, lookupIntegrity } from '../../src/config/algorithms.js';
import { createIpsecEngine, type IpsecEngine } from '../../src/ipsec/engine.js';
import type { SaConfig, TrafficSelector } from '../../src/ipsec/types.js';
import { parseIp } from '../../src/wire/address.js';
import { encodeIcmpv4 } from '../../src/wire/icmp.js';
import { encodeIpv4Packet } from '../../src/wire/ipv4.js';
import { encodeIpv6Packet } from '../../src/wire/ipv6.js';

// Outer addresses: a corner of 127/8 nobody else uses, so the capture filter sees only us.
const PEER_A = '127.45.0.2'; // the ESP sender
const PEER_B = '127.45.0.1'; // the receiver
const ENCAP_PORT = 4500; // RFC 3948 §2: tshark dissects UDP/4500 as UDP-encapsulated ESP

interface Case {
  readonly label: string;
  readonly enc: string; // keyplane (strongSwan) name
  readonly integ?: string;
  readonly uatEnc: string; // tshark's name in the esp_sa table
  readonly uatAuth: string;
  readonly mode: 'tunnel' | 'transport';
  readonly inner: 4 | 6;
}

// tshark 4.0's ESP SA table names (epan/dissectors/packet-ipsec.c, esp_encryption_type_vals
// and esp_authentication_type_vals).
const CASES: Case[] = [
  { label: 'AES-GCM-128, 16-byte ICV', enc: 'aes128gcm16', uatEnc: 'AES-GCM with 16 octet ICV [RFC4106]', uatAuth: 'NULL', mode: 'tunnel', inner: 4 },
  { label: 'AES-GCM-256, 16-byte ICV, IPv6 inside', enc: 'aes256gcm16', uatEnc: 'AES-GCM with 16 octet ICV [RFC4106]', uatAuth: 'NULL', mode: 'tunnel', inner: 6 },
  { label: 'AES-GCM-192, 12-byte ICV', enc: 'aes192gcm12', uatEnc: 'AES-GCM with 12 octet ICV [RFC4106]', uatAuth: 'NULL', mode: 'tunnel', inner: 4 },
  { label: 'AES-GCM-128, 8-byte ICV', enc: 'aes128gcm8', uatEnc: 'AES-GCM with 8 octet ICV [RFC4106]', uatAuth: 'NULL', mode: 'tunnel', inner: 4 },
  { label: 'AES-CBC-256 + HMAC-SHA2-256-128', enc: 'aes256', integ: 'sha256', uatEnc: 'AES-CBC [RFC3602]', uatAuth: 'HMAC-SHA-256-128 [RFC4868]', mode: 'tunnel', inner: 4 },
  { label: 'AES-CBC-128 + HMAC-SHA1-96', enc: 'aes128', integ: 'sha1', uatEnc: 'AES-CBC [RFC3602]', uatAuth: 'HMAC-SHA-1-96 [RFC2404]', mode: 'tunnel', inner: 4 },
  { label: 'AES-CBC-192 + HMAC-SHA2-384-192', enc: 'aes192', integ: 'sha384', uatEnc: 'AES-CBC [RFC3602]', uatAuth: 'HMAC-SHA-384-192 [RFC4868]', mode: 'tunnel', inner: 6 },
  { label: 'AES-CBC-128 + HMAC-SHA2-512-256', enc: 'aes128', integ: 'sha512', uatEnc: 'AES-CBC [RFC3602]', uatAuth: 'HMAC-SHA-512-256 [RFC4868]', mode: 'tunnel', inner: 4 },
  { label: 'AES-GCM-128, transport mode', enc: 'aes128gcm16', uatEnc: 'AES-GCM with 16 octet ICV [RFC4106]', uatAuth: 'NULL', mode: 'transport', inner: 4 },
  { label: 'AES-CBC-256 + HMAC-SHA2-256-128, transport mode', enc: 'aes256', integ: 'sha256', uatEnc: 'AES-CBC [RFC3602]', uatAuth: 'HMAC-SHA-256-128 [RFC4868]', mode: 'transport', inner: 4 },
];

// Names newer Wireshark releases might give RFC 7634 ChaCha20-Poly1305 in the SA table.
const CHACHA_UAT_NAMES = ['ChaCha20-Poly1305 [RFC7634]', 'ChaCha20 with Poly1305 [RFC7634]', 'CHACHA20-POLY1305 [RFC7634]'];

// Inner payload sizes around the 4- and 16-byte alignment boundaries (RFC 4303 §2.4), plus
// large ones.
const PAYLOAD_SIZES = [0, 1, 2, 3, 13, 14, 15, 16, 17, 31, 100, 1000, 1400];

interface Sent {
  readonly spi: number;
  readonly sequence: number;
  readonly expected: Buffer; // what tshark must recover (esp.contained_data)
  readonly nextHeader: number;
}

interface Prepared {
  readonly c: Case;
  readonly sa: SaConfig;
  readonly uat: string;
}

function tsharkWorks(): string | undefined {
  if (process.getuid?.() !== 0) return 'capturing on lo needs root';
  const r = spawnSync('tshark', ['--version'], { encoding: 'utf8' });
  if (r.status !== 0) return 'tshark is not installed (scripts/install-deps.sh installs it)';
  return undefined;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

function uatLine(spi: number, enc: string, encKey: Uint8Array, auth: string, authKey: Uint8Array | undefined): string {
  const q = (s: string) => `"${s}"`;
  return [
    q('IPv4'),
    q(PEER_A),
    q(PEER_B),
    q(`0x${spi.toString(16).padStart(8, '0')}`),
    q(enc),
    q(`0x${hex(encKey)}`), // AES-GCM: key || 4-byte salt, as keyplane keeps it (RFC 4106 §8.1)
    q(auth),
    q(authKey ? `0x${hex(authKey)}` : ''),
  ].join(',');
}

// Transport-mode SAs share the outer addresses, so their policies tell them apart by ICMP
// type (carried in the local "port" selector, RFC 4301 §4.4.1.1): echo request or reply.
function icmpTypeFor(index: number): number {
  return index % 2 === 0 ? 8 : 0;
}

function prepare(c: Case, index: number): Prepared {
  const enc = lookupEncryption(c.enc);
  assert.ok(enc, c.enc);
  const integ = c.integ === undefined ? undefined : lookupIntegrity(c.integ);
  const spi = 0x4b500100 + index;
  const encKey = randomBytes(enc.keyMaterialBytes);
  const authKey = integ ? randomBytes(integ.keyBytes) : undefined;
  const selector: TrafficSelector =
    c.mode === 'transport'
      ? { local: { start: PEER_A, end: PEER_A }, remote: { start: PEER_B, end: PEER_B }, protocol: 1, localPorts: { start: icmpTypeFor(index), end: icmpTypeFor(index) } }
      : c.inner === 4
        ? { local: { start: `10.1.${index}.0`, end: `10.1.${index}.255` }, remote: { start: `10.2.${index}.0`, end: `10.2.${index}.255` } }
        : { local: { start: `2001:db8:1:${index}::`, end: `2001:db8:1:${index}::ffff` }, remote: { start: `2001:db8:2:${index}::`, end: `2001:db8:2:${index}::ffff` } };
  const sa: SaConfig = {
    spi,
    direction: 'out',
    mode: c.mode,
    localAddress: PEER_A,
    remoteAddress: PEER_B,
    encap: { localPort: ENCAP_PORT, remotePort: ENCAP_PORT },
    encryption: { id: enc.id, keyBits: enc.keyBits, keyMaterial: encKey },
    ...(integ && authKey ? { integrity: { id: integ.id, key: authKey } } : {}),
    esn: false,
    replayWindow: 0,
    lifetime: { soft: {}, hard: {} },
    selector,
    policyId: `p${index}`,
  };
  return { c, sa, uat: uatLine(spi, c.uatEnc, encKey, c.uatAuth, authKey) };
}

// The inner packets for one SA. Tunnel mode: random payloads of each size under IP
// protocol 253 (RFC 3692 "use for experimentation"), which tshark shows as plain data (a
// dissector tripping over random bytes would cut tshark's ESP tree short of its ICV
// fields), plus an ICMP echo. Transport mode: ICMP echoes with random data.
const EXPERIMENTAL = 253;

function innerPackets(p: Prepared, index: number): { packet: Uint8Array; expected: Buffer; nextHeader: number }[] {
  const out: { packet: Uint8Array; expected: Buffer; nextHeader: number }[] = [];
  const { c } = p;
  const [src, dst] =
    c.mode === 'transport'
      ? [parseIp(PEER_A), parseIp(PEER_B)]
      : c.inner === 4
        ? [parseIp(`10.1.${index}.1`), parseIp(`10.2.${index}.1`)]
        : [parseIp(`2001:db8:1:${index}::1`), parseIp(`2001:db8:2:${index}::1`)];
  PAYLOAD_SIZES.forEach((size, i) => {
    // Transport mode carries the upper-layer message itself; tshark only shows next-header
    // and padding fields for protocols it knows, so there it is an ICMP echo.
    const payload =
      c.mode === 'tunnel' ? randomBytes(size) : encodeIcmpv4({ type: icmpTypeFor(index), code: 0, body: Buffer.concat([Buffer.from([0, index, 0, i]), randomBytes(size)]) });
    const protocol = c.mode === 'tunnel' ? EXPERIMENTAL : 1;
    const packet =
      c.inner === 4
        ? encodeIpv4Packet({ ttl: 64, protocol, src, dst, identification: 0x100 + i }, payload)
        : encodeIpv6Packet({ nextHeader: protocol, hopLimit: 64, src, dst, flowLabel: i }, payload);
    if (c.mode === 'tunnel') out.push({ packet, expected: Buffer.from(packet), nextHeader: c.inner === 4 ? 4 : 41 });
    else out.push({ packet, expected: Buffer.from(payload), nextHeader: 1 }); // transport: the IP header stays outside
  });
  if (c.mode === 'tunnel' && c.inner === 4) {
    const icmp = encodeIcmpv4({ type: 8, code: 0, body: Buffer.concat([Buffer.from([0x12, 0x34, 0, 1]), randomBytes(56)]) });
    const packet = encodeIpv4Packet({ ttl: 64, protocol: 1, src, dst, identification: 0x200 }, icmp);
    out.push({ packet, expected: Buffer.from(packet), nextHeader: 4 });
  }
  return out;
}

function startCapture(file: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn('tshark', ['-i', 'lo', '-f', `udp and host ${PEER_B} and port ${ENCAP_PORT}`, '-w', file, '-q'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    const timer = setTimeout(() => reject(new Error(`tshark did not start capturing: ${err}`)), 15_000);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      err += d;
      if (err.includes('Capturing on')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`tshark exited (${code}): ${err}`));
    });
  });
}

function stopCapture(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.removeAllListeners('exit');
    child.once('exit', () => resolve());
    child.kill('SIGINT');
  });
}

function bindSocket(address: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(port, address, () => resolve(s));
  });
}

interface Decoded {
  readonly spi: number;
  readonly sequence: number;
  readonly contained: string;
  readonly pad: string;
  readonly padLength: number;
  readonly nextHeader: number;
  readonly icvGood: string;
  readonly icvBad: string;
}

const FIELDS = ['esp.spi', 'esp.sequence', 'esp.contained_data', 'esp.pad', 'esp.pad_len', 'esp.protocol', 'esp.icv_good', 'esp.icv_bad'];

function decode(file: string, uats: readonly string[]): Decoded[] {
  const args = ['-r', file, '-o', 'esp.enable_encryption_decode:TRUE', '-o', 'esp.enable_authentication_check:TRUE'];
  for (const u of uats) args.push('-o', `uat:esp_sa:${u}`);
  args.push('-Y', 'esp', '-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=f');
  for (const f of FIELDS) args.push('-e', f);
  const r = spawnSync('tshark', args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  assert.equal(r.status, 0, `tshark -r failed: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((line) => {
      const [spi, seq, contained, pad, padLen, proto, good, bad] = line.split('\t');
      return {
        spi: Number(spi),
        sequence: Number(seq),
        contained: contained ?? '',
        pad: pad ?? '',
        padLength: Number(padLen),
        nextHeader: Number(proto),
        icvGood: good ?? '',
        icvBad: bad ?? '',
      };
    });
}

// RFC 4303 §2.4: default padding is the byte sequence 1, 2, 3, ...
function defaultPadding(n: number): string {
  return hex(Uint8Array.from({ length: n }, (_, i) => i + 1));
}

// tshark says "Capturing on" before dumpcap's filter is live. Send NAT keepalives (one
// 0xFF byte, RFC 3948 §2.3: never taken for ESP) until one lands in the file.
async function waitUntilCapturing(file: string, sender: Socket): Promise<void> {
  const initial = existsSync(file) ? statSync(file).size : 0;
  for (let i = 0; i < 100; i++) {
    await new Promise<void>((resolve, reject) => sender.send(Buffer.from([0xff]), ENCAP_PORT, PEER_B, (e) => (e ? reject(e) : resolve())));
    await new Promise((resolve) => setTimeout(resolve, 100));
    if (existsSync(file) && statSync(file).size > initial) return;
  }
  throw new Error('tshark captured nothing within 10 s');
}

async function captureAndSend(file: string, engine: IpsecEngine, packets: { packet: Uint8Array; expected: Buffer; nextHeader: number }[]): Promise<Sent[]> {
  const receiver = await bindSocket(PEER_B, ENCAP_PORT);
  const sender = await bindSocket(PEER_A, ENCAP_PORT);
  let capture: ChildProcess | undefined;
  const sent: Sent[] = [];
  const perSpi = new Map<number, number>();
  try {
    capture = await startCapture(file);
    await waitUntilCapturing(file, sender);
    for (const p of packets) {
      const r = engine.protectOutbound(p.packet, Date.now());
      assert.equal(r.kind, 'send', `engine did not protect a packet: ${JSON.stringify(r)}`);
      if (r.kind !== 'send') continue;
      assert.deepEqual(r.encap, { localPort: ENCAP_PORT, remotePort: ENCAP_PORT });
      const spi = r.esp.readUInt32BE(0);
      const sequence = (perSpi.get(spi) ?? 0) + 1;
      perSpi.set(spi, sequence);
      await new Promise<void>((resolve, reject) => sender.send(r.esp, ENCAP_PORT, r.remoteAddress, (e) => (e ? reject(e) : resolve())));
      sent.push({ spi, sequence, expected: p.expected, nextHeader: p.nextHeader });
    }
    // A last probe marks the end: once it is in the file, so is everything before it.
    await waitUntilCapturing(file, sender);
  } finally {
    if (capture) await stopCapture(capture);
    sender.close();
    receiver.close();
  }
  return sent;
}

test('tshark decrypts keyplane ESP to exactly the packets that were sent', async (t) => {
  const skip = tsharkWorks();
  if (skip) {
    t.skip(skip);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'keyplane-tshark-'));
  try {
    const engine = createIpsecEngine();
    const prepared = CASES.map((c, i) => prepare(c, i));
    const packets: { packet: Uint8Array; expected: Buffer; nextHeader: number }[] = [];
    const expectedCount = new Map<number, number>();
    prepared.forEach((p, i) => {
      engine.installPolicy({
        id: `p${i}`,
        priority: 10 + i,
        selector: p.sa.selector,
        action: 'protect',
        protect: { mode: p.c.mode, localTunnel: PEER_A, remoteTunnel: PEER_B },
      });
      engine.installSa(p.sa, Date.now());
      const mine = innerPackets(p, i);
      expectedCount.set(p.sa.spi, mine.length);
      packets.push(...mine);
    });
    const file = join(dir, 'esp.pcap');
    const sent = await captureAndSend(file, engine, packets);
    const decoded = decode(file, prepared.map((p) => p.uat));
    assert.equal(decoded.length, sent.length, 'tshark saw a different number of ESP packets than were sent');

    for (const [i, s] of sent.entries()) {
      const d = decoded[i]!;
      const c = prepared.find((p) => p.sa.spi === s.spi)!.c;
      const what = `${c.label}, SPI 0x${s.spi.toString(16)} seq ${s.sequence}`;
      assert.equal(d.spi, s.spi, what);
      assert.equal(d.sequence, s.sequence, what);
      assert.equal(d.icvGood, '1', `${what}: tshark did not verify the ICV`);
      assert.equal(d.icvBad, '0', what);
      assert.equal(d.nextHeader, s.nextHeader, `${what}: next header`);
      assert.equal(d.contained, hex(s.expected), `${what}: decrypted inner packet differs from what was sent`);
      assert.equal(d.pad, defaultPadding(d.padLength), `${what}: padding is not 1, 2, 3, ... (RFC 4303 §2.4)`);
    }
    for (const p of prepared) {
      assert.equal(sent.filter((s) => s.spi === p.sa.spi).length, expectedCount.get(p.sa.spi), `${p.c.label}: packets went to another SA`);
    }
    const perCase = CASES.map((c) => `${c.label}: ${sent.filter((s) => prepared.find((p) => p.sa.spi === s.spi)!.c === c).length}`);
    t.diagnostic(`decrypted and matched ${sent.length} packets; ${perCase.join('; ')}`);

    // The check can fail: with one wrong key, tshark recovers nothing for that SA and
    // flags the ICV (the other SAs still decode).
    const wrong = prepared.map((p, i) => (i === 0 ? p.uat.replace(/"0x([0-9a-f])/, (_m, d: string) => `"0x${((parseInt(d, 16) + 1) % 16).toString(16)}`) : p.uat));
    const bad = decode(file, wrong);
    const first = bad.filter((d) => d.spi === prepared[0]!.sa.spi);
    assert.ok(first.length > 0);
    for (const d of first) {
      assert.notEqual(d.icvGood, '1');
      assert.notEqual(d.contained, hex(sent.find((s) => s.spi === d.spi && s.sequence === d.sequence)!.expected));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tshark decrypts keyplane ChaCha20-Poly1305 ESP (when this tshark supports it)', async (t) => {
  const skip = tsharkWorks();
  if (skip) {
    t.skip(skip);
    return;
  }
  // Find the SA-table name this tshark uses for RFC 7634, if any: an unknown value makes
  // tshark refuse the -o option.
  const name = CHACHA_UAT_NAMES.find(
    (n) => spawnSync('tshark', ['-o', `uat:esp_sa:"IPv4","${PEER_A}","${PEER_B}","0x00000100","${n}","0x00","NULL",""`, '-r', '/dev/null'], { encoding: 'utf8' }).stderr.includes('invalid value') === false,
  );
  if (name === undefined) {
    const version = spawnSync('tshark', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0];
    t.skip(`${version}: its ESP SA table has no ChaCha20-Poly1305 (RFC 7634) entry`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'keyplane-tshark-'));
  try {
    const engine = createIpsecEngine();
    const c: Case = { label: 'ChaCha20-Poly1305', enc: 'chacha20poly1305', uatEnc: name, uatAuth: 'NULL', mode: 'tunnel', inner: 4 };
    const p = prepare(c, 0);
    engine.installPolicy({ id: 'p0', priority: 1, selector: p.sa.selector, action: 'protect', protect: { mode: 'tunnel', localTunnel: PEER_A, remoteTunnel: PEER_B } });
    engine.installSa(p.sa, Date.now());
    const file = join(dir, 'esp.pcap');
    const sent = await captureAndSend(file, engine, innerPackets(p, 0));
    const decoded = decode(file, [p.uat]);
    assert.equal(decoded.length, sent.length);
    sent.forEach((s, i) => assert.equal(decoded[i]!.contained, hex(s.expected)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
