// Turns a strongSwan capture (scripts/capture-ike-vectors.sh) into
// test/vectors/ike-strongswan-capture.json: every IKE message's bytes (UDP payloads from
// port 500, and from 4500 with the 4-byte non-ESP marker removed, RFC 3948 §2.2), the
// IKE SA keys strongSwan logged (charon "ike 4" prints SK_*), and tshark's dissection of
// each message, decrypted by tshark itself with those keys.
//
//   node dist/test/wire/ike-capture.js write <pcap> <charon log>... <strongSwan version>
import { readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readPcapEthernet } from './capture.js';
import { icvValid, keysFor, type IkeSaKeys } from './ike-decrypt.js';
import { tsharkIsakmp, tsharkVersion, type TsharkNode } from './ike-tshark.js';
import { decodeIkeHeader } from '../../src/wire/ike/index.js';
import { formatIp } from '../../src/wire/address.js';

export interface StoredIkeMessage {
  readonly frame: number;
  readonly src: string; // address:port
  readonly dst: string;
  readonly nonEspMarker: boolean; // sent on UDP/4500 after the 4 zero octets
  readonly hex: string; // the IKE message
  readonly isakmp: TsharkNode; // tshark's dissection (decrypted where keys are known)
}

export interface StoredIkeCapture {
  readonly source: string;
  readonly strongswan: string;
  readonly tools: string;
  readonly ikeAlgorithms: string;
  readonly psk: string; // conn "psk"'s pre-shared key
  readonly keys: readonly IkeSaKeys[];
  readonly messages: readonly StoredIkeMessage[];
}

// Key sets in the order charon logged them (Sk_d starts a set).
export function parseCharonKeys(log: string): Record<string, string>[] {
  const lines = log.split('\n');
  const sets: Record<string, string>[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /(Sk_\w+) secret => (\d+) bytes/.exec(lines[i]!);
    if (m === null) continue;
    const want = 2 * Number(m[2]);
    let hex = '';
    for (let j = i + 1; hex.length < want && j < lines.length; j++) {
      const d = /\s\d+: ((?:[0-9A-F]{2} )+)/.exec(lines[j]!);
      if (d === null) break;
      hex += d[1]!.replaceAll(' ', '').toLowerCase();
    }
    if (hex.length !== want) throw new Error(`incomplete dump of ${m[1]} at log line ${i + 1}`);
    if (m[1] === 'Sk_d') sets.push({});
    sets[sets.length - 1]![m[1]!] = hex;
  }
  return sets;
}

interface Extracted {
  frame: number;
  src: string;
  dst: string;
  nonEspMarker: boolean;
  ike: Uint8Array;
}

function extract(pcap: Uint8Array): Extracted[] {
  const out: Extracted[] = [];
  readPcapEthernet(pcap).forEach((f, i) => {
    if (f.ethType !== 0x0800) return;
    const ip = f.ip;
    const hl = (ip[0]! & 0x0f) * 4;
    if (ip[9] !== 17) return;
    const udp = ip.subarray(hl);
    const sport = (udp[0]! << 8) | udp[1]!;
    const dport = (udp[2]! << 8) | udp[3]!;
    let payload = udp.subarray(8, (udp[4]! << 8) | udp[5]!);
    let marker = false;
    if (sport === 4500 || dport === 4500) {
      if (payload.length < 4 || payload[0] !== 0 || payload[1] !== 0 || payload[2] !== 0 || payload[3] !== 0) return; // ESP, keepalive
      payload = payload.subarray(4);
      marker = true;
    } else if (sport !== 500 && dport !== 500) {
      return;
    }
    out.push({
      frame: i + 1,
      src: `${formatIp(ip.subarray(12, 16))}:${sport}`,
      dst: `${formatIp(ip.subarray(16, 20))}:${dport}`,
      nonEspMarker: marker,
      ike: new Uint8Array(payload),
    });
  });
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === 'write') {
  const [pcapPath, ...rest] = process.argv.slice(3);
  const version = rest.pop() ?? '';
  const logs = rest;
  const messages = extract(readFileSync(pcapPath!));
  const logged = logs.flatMap((l) => parseCharonKeys(readFileSync(l, 'utf8')));
  const unique = [...new Map(logged.map((k) => [k['Sk_d'], k])).values()];
  // Which SA each key set belongs to: the one whose messages its SK_a* authenticates.
  const keys: IkeSaKeys[] = [];
  for (const k of unique) {
    const hit = messages.find((m) => {
      const h = decodeIkeHeader(m.ike);
      if (h.nextPayload !== 46 && h.nextPayload !== 53) return false;
      const candidate = { initiatorSpi: '', responderSpi: '', skEi: '', skEr: '', skAi: k['Sk_ai']!, skAr: k['Sk_ar']!, skPi: '', skPr: '' };
      return icvValid(m.ike, keysFor(h, candidate).integ);
    });
    if (hit === undefined) continue;
    const h = decodeIkeHeader(hit.ike);
    keys.push({
      initiatorSpi: Buffer.from(h.initiatorSpi).toString('hex'),
      responderSpi: Buffer.from(h.responderSpi).toString('hex'),
      skEi: k['Sk_ei']!,
      skEr: k['Sk_er']!,
      skAi: k['Sk_ai']!,
      skAr: k['Sk_ar']!,
      skPi: k['Sk_pi']!,
      skPr: k['Sk_pr']!,
    });
  }
  const uat = keys.flatMap((k) => [
    '-o',
    `uat:ikev2_decryption_table:${k.initiatorSpi},${k.responderSpi},${k.skEi},${k.skEr},"AES-CBC-128 [RFC3602]",${k.skAi},${k.skAr},"HMAC_SHA2_256_128 [RFC4868]"`,
  ]);
  const dissected = tsharkIsakmp(pcapPath!, uat);
  const stored: StoredIkeCapture = {
    source:
      'IKEv2 messages between two strongSwan instances (charon-systemd, kernel-libipsec) in two Linux network namespaces ' +
      '(A 192.0.2.1 initiator, B 192.0.2.2 responder, encap = yes), captured with tcpdump on the veth pair by ' +
      'scripts/capture-ike-vectors.sh: conn "psk" (PSK; INVALID_KE_PAYLOAD retry from ECP-256 to X25519; CP virtual IP; ' +
      'CHILD_SA rekey with PFS; IKE SA rekey; liveness checks; CHILD_SA and IKE SA deletes) and conn "cert" (RSA-2048 ' +
      'certificates, RFC 7427 signature auth, CERTREQ, IKE_AUTH in RFC 7383 fragments). "isakmp" is tshark\'s dissection ' +
      '(-T json --no-duplicate-keys), decrypted by tshark with the SK_* keys charon logged at "ike 4" (throw-away SAs).',
    strongswan: version,
    tools: [
      tsharkVersion(),
      execFileSync('tcpdump', ['--version'], { encoding: 'utf8' }).split('\n')[0],
      `Linux ${execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim()}`,
    ].join('; '),
    ikeAlgorithms: 'aes128-sha256-x25519 (ENCR_AES_CBC 128-bit, AUTH_HMAC_SHA2_256_128, PRF_HMAC_SHA2_256, Curve25519)',
    psk: process.env['IKE_CAPTURE_PSK'] ?? '',
    keys,
    messages: messages.map((m) => {
      const isakmp = dissected.get(m.frame);
      if (isakmp === undefined) throw new Error(`tshark did not dissect frame ${m.frame} as ISAKMP`);
      return { frame: m.frame, src: m.src, dst: m.dst, nonEspMarker: m.nonEspMarker, hex: Buffer.from(m.ike).toString('hex'), isakmp };
    }),
  };
  const target = new URL('../../../test/vectors/ike-strongswan-capture.json', import.meta.url);
  writeFileSync(target, JSON.stringify(stored, null, 1) + '\n');
  console.log(`wrote ${stored.messages.length} IKE messages and ${keys.length} key sets to ${fileURLToPath(target)}`);
}
