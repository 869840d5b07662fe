// Field-by-field comparison of our IKEv2 decoding with tshark's dissection (the "isakmp"
// layer of `tshark -T json --no-duplicate-keys`, repeated keys merged into arrays). Used by
// ike-strongswan.test.ts (stored strongSwan capture) and ike-tshark.test.ts (messages our
// encoder made). tshark prints numbers in decimal, a few fields in 0x-hex, byte strings as
// colon-separated hex ("" when empty) and addresses as text.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  AuthMethod,
  cpValue,
  decodeSignatureAuthData,
  IdType,
  NotifyType,
  payloadTypeOf,
  PayloadType,
  TransformAttributeType,
  TransformType,
  type DecodedIkeMessage,
  type IkePayload,
  type TrafficSelector,
} from '../../src/wire/ike/index.js';

export type TsharkValue = string | TsharkNode | TsharkValue[];
export interface TsharkNode {
  [key: string]: TsharkValue;
}

export function list(v: TsharkValue | undefined): TsharkValue[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

function str(node: TsharkNode, key: string, label: string): string {
  const v = node[key];
  assert.equal(typeof v, 'string', `${label}: tshark has no single ${key} (${JSON.stringify(v)?.slice(0, 200)})`);
  return v as string;
}

function node(v: TsharkValue | undefined, label: string): TsharkNode {
  assert.ok(v !== undefined && typeof v === 'object' && !Array.isArray(v), `${label}: expected a tshark subtree, got ${JSON.stringify(v)?.slice(0, 200)}`);
  return v;
}

function num(n: TsharkNode, key: string, label: string): number {
  const s = str(n, key, label);
  return s.startsWith('0x') ? parseInt(s.slice(2), 16) : Number(s);
}

export function colonHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
}

export function hexOf(s: string): string {
  return s.replaceAll(':', '').toLowerCase();
}

function eqNum(n: TsharkNode, key: string, want: number, label: string): void {
  assert.equal(num(n, key, label), want, `${label}: ${key}`);
}

function eqBytes(n: TsharkNode, key: string, want: Uint8Array, label: string): void {
  assert.equal(hexOf(str(n, key, label)), Buffer.from(want).toString('hex'), `${label}: ${key}`);
}

// What a comparison covered, so tests can insist the data exercised each case.
export class Coverage {
  readonly counts = new Map<string, number>();
  add(what: string): void {
    this.counts.set(what, (this.counts.get(what) ?? 0) + 1);
  }
  get(what: string): number {
    return this.counts.get(what) ?? 0;
  }
  require(...whats: string[]): void {
    const missing = whats.filter((w) => this.get(w) === 0);
    assert.deepEqual(missing, [], `not covered: ${missing.join(', ')} (covered: ${[...this.counts.keys()].sort().join(', ')})`);
  }
}

export function compareHeader(t: TsharkNode, m: DecodedIkeMessage, label: string): void {
  const h = m.header;
  eqBytes(t, 'isakmp.ispi', h.initiatorSpi, label);
  eqBytes(t, 'isakmp.rspi', h.responderSpi, label);
  eqNum(t, 'isakmp.nextpayload', m.payloads[0] === undefined ? 0 : payloadTypeOf(m.payloads[0]), label);
  const version = node(t['isakmp.version_tree'], label);
  eqNum(version, 'isakmp.mjver', 2, label);
  eqNum(version, 'isakmp.mnver', h.minorVersion, label);
  eqNum(t, 'isakmp.exchangetype', h.exchangeType, label);
  const flags = node(t['isakmp.flags_tree'], label);
  eqNum(flags, 'isakmp.flag_i', h.initiator ? 1 : 0, label);
  eqNum(flags, 'isakmp.flag_v', h.higherVersion ? 1 : 0, label);
  eqNum(flags, 'isakmp.flag_r', h.response ? 1 : 0, label);
  eqNum(t, 'isakmp.messageid', h.messageId, label);
  eqNum(t, 'isakmp.length', m.bytes.length, label);
}

const TRANSFORM_ID_FIELD: Readonly<Record<number, string>> = {
  [TransformType.ENCR]: 'isakmp.tf.id.encr',
  [TransformType.PRF]: 'isakmp.tf.id.prf',
  [TransformType.INTEG]: 'isakmp.tf.id.integ',
  [TransformType.KE]: 'isakmp.tf.id.dh',
  [TransformType.ESN]: 'isakmp.tf.id.esn',
};

function compareSelector(d: TsharkNode, ts: TrafficSelector, label: string, cov: Coverage): void {
  if (ts.type === 'other') {
    eqNum(d, 'isakmp.ts.type', ts.tsType, label);
    // tshark shows only the type of TS types it does not know, but skips them correctly.
    if (d['isakmp.ts.selector_length'] !== undefined) eqNum(d, 'isakmp.ts.selector_length', 4 + ts.data.length, label);
    cov.add('ts:other');
    return;
  }
  eqNum(d, 'isakmp.ts.type', ts.type === 'ipv4' ? 7 : 8, label);
  eqNum(d, 'isakmp.ts.protoid', ts.ipProtocol, label);
  eqNum(d, 'isakmp.ts.selector_length', ts.type === 'ipv4' ? 16 : 40, label);
  eqNum(d, 'isakmp.ts.start_port', ts.startPort, label);
  eqNum(d, 'isakmp.ts.end_port', ts.endPort, label);
  const v = ts.type === 'ipv4' ? 'ipv4' : 'ipv6';
  assert.equal(str(d, `isakmp.ts.start_${v}`, label), ts.startAddress, `${label}: start address`);
  assert.equal(str(d, `isakmp.ts.end_${v}`, label), ts.endAddress, `${label}: end address`);
  cov.add(`ts:${ts.type}`);
}

// Compares one payload (tshark's "isakmp.typepayload_tree" entry) with ours. `next` is the
// Next Payload value the header carries, `body` the raw body bytes.
export function comparePayload(t: TsharkNode, p: IkePayload, next: number, body: Uint8Array, label: string, cov: Coverage): void {
  eqNum(t, 'isakmp.nextpayload', next, label);
  eqNum(t, 'isakmp.payloadlength', body.length + 4, label);
  if (t['isakmp.criticalpayload'] !== undefined) eqNum(t, 'isakmp.criticalpayload', p.kind === 'unknown' && p.critical ? 1 : 0, label);
  cov.add(p.kind);
  switch (p.kind) {
    case 'sa': {
      const props = list(t['isakmp.typepayload_tree']);
      assert.equal(props.length, p.proposals.length, `${label}: proposal count`);
      p.proposals.forEach((prop, i) => {
        const pl = `${label} proposal ${i + 1}`;
        const pt = node(props[i], pl);
        eqNum(pt, 'isakmp.nextpayload', i === p.proposals.length - 1 ? 0 : 2, pl);
        eqNum(pt, 'isakmp.prop.number', prop.number, pl);
        eqNum(pt, 'isakmp.prop.protoid', prop.protocolId, pl);
        eqNum(pt, 'isakmp.spisize', prop.spi.length, pl);
        eqNum(pt, 'isakmp.prop.transforms', prop.transforms.length, pl);
        if (prop.spi.length > 0) eqBytes(pt, 'isakmp.spi', prop.spi, pl);
        const tfs = list(pt['isakmp.typepayload_tree']);
        assert.equal(tfs.length, prop.transforms.length, `${pl}: transform count`);
        prop.transforms.forEach((tf, j) => {
          const tl = `${pl} transform ${j + 1}`;
          const tt = node(tfs[j], tl);
          eqNum(tt, 'isakmp.nextpayload', j === prop.transforms.length - 1 ? 0 : 3, tl);
          eqNum(tt, 'isakmp.tf.type', tf.type, tl);
          eqNum(tt, TRANSFORM_ID_FIELD[tf.type] ?? 'isakmp.tf.id', tf.id, tl);
          const attrs = list(tt['isakmp.ike2.attr']).map((a) => node(a, tl));
          const ours = [...(tf.keyLengthBits === undefined ? [] : [{ type: TransformAttributeType.KEY_LENGTH, value: tf.keyLengthBits }]), ...(tf.attributes ?? [])];
          assert.equal(attrs.length, ours.length, `${tl}: attribute count`);
          ours.forEach((a, k) => {
            const at = attrs[k]!;
            eqNum(at, 'isakmp.ike2.attr.type', a.type, tl);
            eqNum(at, 'isakmp.ike2.attr.format', typeof a.value === 'number' ? 1 : 0, tl);
            if (typeof a.value === 'number') {
              assert.equal(parseInt(hexOf(str(at, 'isakmp.ike2.attr.value', tl)), 16), a.value, `${tl}: attribute value`);
              if (a.type === TransformAttributeType.KEY_LENGTH) eqNum(at, 'isakmp.ike2.attr.key_length', a.value, tl);
            } else {
              eqNum(at, 'isakmp.ike2.attr.length', a.value.length, tl);
              if (a.value.length > 0) eqBytes(at, 'isakmp.ike2.attr.value', a.value, tl);
            }
          });
          if (tf.keyLengthBits !== undefined) cov.add('sa:key-length');
        });
        cov.add(`sa:protocol-${prop.protocolId}`);
      });
      if (p.proposals.length > 1) cov.add('sa:several-proposals');
      return;
    }
    case 'ke':
      eqNum(t, 'isakmp.key_exchange.dh_group', p.group, label);
      eqBytes(t, 'isakmp.key_exchange.data', p.data, label);
      return;
    case 'idi':
    case 'idr': {
      const id = p.id;
      const typeNum = { ipv4: IdType.IPV4_ADDR, ipv6: IdType.IPV6_ADDR, fqdn: IdType.FQDN, rfc822: IdType.RFC822_ADDR, 'der-asn1-dn': IdType.DER_ASN1_DN, 'der-asn1-gn': IdType.DER_ASN1_GN, 'key-id': IdType.KEY_ID }[
        id.type === 'other' ? 'ipv4' : id.type
      ];
      eqNum(t, 'isakmp.id.type', id.type === 'other' ? id.idType : typeNum, label);
      const data = node(t['isakmp.id.data'] ?? {}, label);
      if (id.type === 'ipv4') assert.equal(str(data, 'isakmp.id.data.ipv4_addr', label), id.address, `${label}: IPv4 ID`);
      if (id.type === 'ipv6') assert.equal(str(data, 'isakmp.id.data.ipv6_addr', label), id.address, `${label}: IPv6 ID`);
      if (id.type === 'fqdn') assert.equal(str(data, 'isakmp.id.data.fqdn', label), id.value, `${label}: FQDN ID`);
      // tshark shows ID_RFC822_ADDR as ASCII, so only ASCII ones can be compared as text.
      if (id.type === 'rfc822' && /^[\x20-\x7e]*$/.test(id.value)) assert.equal(str(data, 'isakmp.id.data.user_fqdn', label), id.value, `${label}: RFC822 ID`);
      if (id.type === 'key-id') eqBytes(data, 'isakmp.id.data.key_id', id.data, label);
      cov.add(`id:${id.type}`);
      return;
    }
    case 'cert':
      eqNum(t, 'isakmp.cert.encoding', p.encoding, label);
      if (t['isakmp.cert.data_raw'] !== undefined) {
        assert.equal(hexOf(str(t, 'isakmp.cert.data_raw', label)), Buffer.from(p.data).toString('hex'), `${label}: certificate bytes`);
        cov.add('cert:bytes');
      }
      return;
    case 'certreq':
      eqNum(t, 'isakmp.certreq.type', p.encoding, label);
      // tshark shows X.509 CA hashes one by one, other encodings' data whole.
      assert.equal(list(t['isakmp.ike.certreq.authority']).map((a) => hexOf(a as string)).join(''), Buffer.from(p.authorities).toString('hex'), `${label}: authorities`);
      return;
    case 'auth':
      eqNum(t, 'isakmp.auth.method', p.method, label);
      if (p.method === AuthMethod.DIGITAL_SIGNATURE) {
        // tshark splits RFC 7427 authentication data into its three parts (when they fit).
        let sig: ReturnType<typeof decodeSignatureAuthData> | undefined;
        try {
          sig = decodeSignatureAuthData(p.data);
        } catch {
          sig = undefined; // random test data
        }
        if (sig !== undefined) {
          const parts = node(t['isakmp.auth.data_tree'], label);
          eqNum(parts, 'isakmp.auth.data.sig.asn1.len', sig.algorithmIdentifier.length, label);
          eqBytes(parts, 'isakmp.auth.data.sig.asn1.data', sig.algorithmIdentifier, label);
          eqBytes(parts, 'isakmp.auth.data.sig.value', sig.signature, label);
          cov.add('auth:digital-signature');
        }
      }
      eqBytes(t, 'isakmp.auth.data', p.data, label);
      return;
    case 'nonce':
      eqBytes(t, 'isakmp.nonce', p.nonce, label);
      return;
    case 'notify':
      eqNum(t, 'isakmp.notify.protoid', p.protocolId, label);
      eqNum(t, 'isakmp.spisize', p.spi.length, label);
      eqNum(t, 'isakmp.notify.msgtype', p.notifyType, label);
      if (p.spi.length > 0) {
        eqBytes(t, 'isakmp.spi', p.spi, label);
        cov.add('notify:spi');
      }
      if (t['isakmp.notify.data'] !== undefined) eqBytes(t, 'isakmp.notify.data', p.data, label);
      if (p.notifyType === NotifyType.SIGNATURE_HASH_ALGORITHMS) {
        const ids = list(t['isakmp.notify.data.signature_hash_algorithms']).map(Number);
        const ours: number[] = [];
        for (let i = 0; i < p.data.length; i += 2) ours.push((p.data[i]! << 8) | p.data[i + 1]!);
        assert.deepEqual(ids, ours, `${label}: signature hash algorithms`);
      }
      if (p.notifyType === NotifyType.INVALID_KE_PAYLOAD) eqNum(t, 'isakmp.notify.data.accepted_dh_group', (p.data[0]! << 8) | p.data[1]!, label);
      cov.add(`notify:${p.notifyType}`);
      return;
    case 'delete': {
      eqNum(t, 'isakmp.delete.protoid', p.protocolId, label);
      eqNum(t, 'isakmp.spisize', p.protocolId === 1 ? 0 : 4, label);
      eqNum(t, 'isakmp.spinum', p.spis.length, label);
      const spis = list(t['isakmp.delete.spi']).map((s) => hexOf(s as string));
      assert.deepEqual(spis, p.spis.map((s) => Buffer.from(s).toString('hex')), `${label}: deleted SPIs`);
      cov.add(`delete:protocol-${p.protocolId}`);
      return;
    }
    case 'vendor':
      eqBytes(t, 'isakmp.vid_bytes', p.data, label);
      return;
    case 'tsi':
    case 'tsr': {
      eqNum(t, 'isakmp.ts.number', p.selectors.length, label);
      const sel = list(t['isakmp.ts.data']);
      assert.equal(sel.length, p.selectors.length, `${label}: selector count`);
      p.selectors.forEach((ts, i) => compareSelector(node(sel[i], label), ts, `${label} selector ${i + 1}`, cov));
      return;
    }
    case 'cp': {
      eqNum(t, 'isakmp.cfg.type', p.cfgType, label);
      const attrs = list(t['isakmp.cfg.attr']);
      assert.equal(attrs.length, p.attributes.length, `${label}: attribute count`);
      p.attributes.forEach((a, i) => {
        const al = `${label} attribute ${i + 1}`;
        const at = node(attrs[i], al);
        eqNum(at, 'isakmp.cfg.attr.type', a.type, al);
        eqNum(at, 'isakmp.cfg.attr.length', a.value.length, al);
        if (a.value.length > 0) eqBytes(at, 'isakmp.cfg.attr.value', a.value, al);
        const v = cpValue(a);
        const typed: Readonly<Record<number, string>> = {
          1: 'internal_ip4_address',
          2: 'internal_ip4_netmask',
          3: 'internal_ip4_dns',
          4: 'internal_ip4_nbns',
          6: 'internal_ip4_dhcp',
          10: 'internal_ip6_dns',
          12: 'internal_ip6_dhcp',
        };
        if ((v.format === 'ip4' || v.format === 'ip6') && typed[a.type] !== undefined) {
          assert.equal(str(at, `isakmp.cfg.attr.${typed[a.type]}`, al), v.address, `${al}: address`);
        }
        if (v.format === 'ip6-prefix' && a.type === 8) {
          assert.equal(str(at, 'isakmp.cfg.attr.internal_ip6_address', al), v.address, `${al}: address`);
          eqNum(at, 'isakmp.cfg.attr.internal_ip6_address.prefix', v.prefixLength, al);
        }
        if (v.format === 'ip4-subnet') {
          assert.equal(str(at, 'isakmp.cfg.attr.internal_ip4_subnet_ip', al), v.address, `${al}: subnet`);
          assert.equal(str(at, 'isakmp.cfg.attr.internal_ip4_subnet_netmask', al), v.netmask, `${al}: netmask`);
        }
        if (v.format === 'text' && v.text.length > 0) assert.equal(str(at, 'isakmp.cfg.attr.application_version', al), v.text, `${al}: application version`);
        if (v.format === 'types') {
          assert.deepEqual(list(at['isakmp.cfg.attr.supported_attributes']).map(Number), v.types, `${al}: supported attributes`);
        }
        cov.add(`cp:attribute-${v.format}`);
      });
      return;
    }
    case 'eap': {
      // tshark hands the message to its EAP dissector (RFC 3748 header).
      const eap = node(t['eap'], label);
      eqNum(eap, 'eap.code', p.message[0]!, label);
      eqNum(eap, 'eap.id', p.message[1]!, label);
      eqNum(eap, 'eap.len', p.message.length, label);
      return;
    }
    case 'sk':
      return; // the body is opaque here; callers with keys compare the decrypted payloads
    case 'skf':
      eqNum(t, 'isakmp.frag.number', p.fragmentNumber, label);
      eqNum(t, 'isakmp.frag.total', p.totalFragments, label);
      return;
    case 'unknown':
      return;
  }
}

// Compares a chain: tshark's parallel "isakmp.typepayload" / "isakmp.typepayload_tree"
// lists (in `parent`) against our payloads.
export function comparePayloads(
  parent: TsharkNode,
  payloads: readonly IkePayload[],
  rawBodies: readonly Uint8Array[],
  label: string,
  cov: Coverage,
): void {
  const types = list(parent['isakmp.typepayload']).map(Number);
  const trees = list(parent['isakmp.typepayload_tree']);
  assert.deepEqual(types, payloads.map(payloadTypeOf), `${label}: payload types`);
  assert.equal(trees.length, payloads.length, `${label}: payload trees`);
  payloads.forEach((p, i) => {
    const last = p.kind === 'sk' || p.kind === 'skf' ? p.nextPayload : payloads[i + 1] === undefined ? PayloadType.NONE : payloadTypeOf(payloads[i + 1]!);
    comparePayload(node(trees[i], label), p, last, rawBodies[i]!, `${label} payload ${i + 1} (${p.kind})`, cov);
  });
}

export function tsharkVersion(): string {
  return execFileSync('tshark', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0]!;
}

export function haveTshark(): boolean {
  try {
    tsharkVersion();
    return true;
  } catch {
    return false;
  }
}

// The isakmp layers of every frame of a pcap file, keyed by frame number, with only the
// isakmp.* fields (other dissectors' subtrees, e.g. X.509 inside CERT, are dropped) and,
// with `raw`, the certificate bytes as isakmp.cert.data_raw.
export function tsharkIsakmp(pcap: string, extraArgs: readonly string[] = []): Map<number, TsharkNode> {
  const args = ['-n', '-r', pcap, '-T', 'json', '-x', '--no-duplicate-keys', ...extraArgs];
  const text = execFileSync('tshark', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 256 * 1024 * 1024 });
  const frames = JSON.parse(text) as { _source: { layers: Record<string, TsharkValue> } }[];
  const out = new Map<number, TsharkNode>();
  for (const f of frames) {
    const layers = f._source.layers;
    const frame = node(layers['frame'], 'frame');
    const isakmp = layers['isakmp'];
    if (isakmp !== undefined) out.set(Number(str(frame, 'frame.number', 'frame')), prune(isakmp) as TsharkNode);
  }
  return out;
}

function prune(v: TsharkValue): TsharkValue {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return v.map(prune);
  const out: TsharkNode = {};
  for (const [k, x] of Object.entries(v)) {
    if (k === 'isakmp.cert.data_raw') {
      out[k] = list(x)[0] as string; // [hex, offset, length, mask, type]
      continue;
    }
    if (k === 'eap') {
      const e = node(x, 'eap');
      out[k] = Object.fromEntries(['eap.code', 'eap.id', 'eap.len'].filter((f) => typeof e[f] === 'string').map((f) => [f, e[f]!]));
      continue;
    }
    if (!k.startsWith('isakmp.') || k.endsWith('_raw')) continue;
    out[k] = prune(x);
  }
  return out;
}
