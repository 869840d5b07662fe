// Writes IKE messages into a pcap file (libpcap format, LINKTYPE_RAW: each record an IPv4
// packet), each in a UDP datagram to port 500, or to 4500 after the non-ESP marker
// (RFC 3948 §2.2), with real IPv4 and UDP checksums, for tshark to dissect.
import { encodeIpv4Packet } from '../../src/wire/ipv4.js';
import { encodeUdp, IPPROTO_UDP } from '../../src/wire/udp.js';
import { buildMarkedIke } from '../../src/wire/udp-encap.js';
import { parseIp } from '../../src/wire/address.js';

const LINKTYPE_RAW = 101;

export interface PcapIke {
  readonly message: Uint8Array;
  readonly natT?: boolean; // UDP/4500 with the non-ESP marker
}

export function ikePcap(items: readonly PcapIke[], src = '192.0.2.1', dst = '192.0.2.2'): Uint8Array {
  const srcB = parseIp(src);
  const dstB = parseIp(dst);
  const records = items.map((it, i) => {
    const port = it.natT === true ? 4500 : 500;
    const payload = it.natT === true ? buildMarkedIke(it.message) : it.message;
    const udp = encodeUdp(port, port, payload, { src: srcB, dst: dstB });
    const ip = encodeIpv4Packet({ src: srcB, dst: dstB, protocol: IPPROTO_UDP, ttl: 64, identification: i + 1 }, udp);
    const rec = new Uint8Array(16 + ip.length);
    const dv = new DataView(rec.buffer);
    dv.setUint32(0, 1_700_000_000 + i, true); // seconds
    dv.setUint32(4, 0, true);
    dv.setUint32(8, ip.length, true); // captured length
    dv.setUint32(12, ip.length, true); // original length
    rec.set(ip, 16);
    return rec;
  });
  const head = new Uint8Array(24);
  const dv = new DataView(head.buffer);
  dv.setUint32(0, 0xa1b2c3d4, true);
  dv.setUint16(4, 2, true);
  dv.setUint16(6, 4, true);
  dv.setUint32(16, 65535, true); // snaplen
  dv.setUint32(20, LINKTYPE_RAW, true);
  const out = new Uint8Array(24 + records.reduce((n, r) => n + r.length, 0));
  out.set(head, 0);
  let off = 24;
  for (const r of records) {
    out.set(r, off);
    off += r.length;
  }
  return out;
}
