// Real packets, made and dissected by tools nobody here wrote: the Linux kernel sends them
// between two network namespaces over a veth pair (MTU 1280, so 2000-byte UDP datagrams are
// fragmented), tcpdump captures them, and tshark dissects them. Used by
// capture-vectors.test.ts (a stored capture, test/vectors/wire-capture.json) and
// capture-live.test.ts (a fresh capture, when run as root with the tools installed).
//
// The packets: MLDv2 reports (IPv6 Hop-by-Hop header + ICMPv6), neighbour discovery, TCP
// SYNs to a closed port and the kernel's RSTs, small UDP datagrams and the ICMP/ICMPv6 port
// unreachable errors they cause, and fragmented UDP over IPv4 and IPv6 (Fragment header).
//
// Run `node dist/test/wire/capture.js write` as root to regenerate the stored vectors.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatIp, bytesEqual } from '../../src/wire/address.js';
import { verifyInternetChecksum } from '../../src/wire/checksum.js';
import { decodeIpv4Header } from '../../src/wire/ipv4.js';
import { decodeIpv6Extensions, decodeIpv6Header, IPV6_HEADER_BYTES } from '../../src/wire/ipv6.js';
import { decodeUdpHeader, verifyUdpChecksum } from '../../src/wire/udp.js';
import { decodeTcpHeader, verifyTcpChecksum } from '../../src/wire/tcp.js';
import { decodeIcmpv4, decodeIcmpv6, verifyIcmpv4Checksum, verifyIcmpv6Checksum } from '../../src/wire/icmp.js';
import { flowOf } from '../../src/wire/packet-flow.js';

export const TSHARK_FIELDS = [
  'frame.number',
  'eth.type',
  'ip.version',
  'ip.hdr_len',
  'ip.dsfield',
  'ip.len',
  'ip.id',
  'ip.flags.rb',
  'ip.flags.df',
  'ip.flags.mf',
  'ip.frag_offset',
  'ip.ttl',
  'ip.proto',
  'ip.checksum',
  'ip.checksum.status',
  'ip.src',
  'ip.dst',
  'ipv6.tclass',
  'ipv6.flow',
  'ipv6.plen',
  'ipv6.nxt',
  'ipv6.hlim',
  'ipv6.src',
  'ipv6.dst',
  'ipv6.hopopts.nxt',
  'ipv6.hopopts.len',
  'ipv6.fraghdr.nxt',
  'ipv6.fraghdr.offset',
  'ipv6.fraghdr.more',
  'ipv6.fraghdr.ident',
  'udp.srcport',
  'udp.dstport',
  'udp.length',
  'udp.checksum',
  'udp.checksum.status',
  'tcp.srcport',
  'tcp.dstport',
  'tcp.seq_raw',
  'tcp.ack_raw',
  'tcp.hdr_len',
  'tcp.flags',
  'tcp.window_size_value',
  'tcp.checksum',
  'tcp.checksum.status',
  'tcp.urgent_pointer',
  'icmp.type',
  'icmp.code',
  'icmp.checksum',
  'icmp.checksum.status',
  'icmpv6.type',
  'icmpv6.code',
  'icmpv6.checksum',
  'icmpv6.checksum.status',
] as const;

export type TsharkRow = Record<string, string>; // field -> value; absent fields omitted

export interface CapturedPacket {
  readonly frame: number;
  readonly ethType: number;
  readonly ip: Uint8Array; // the frame without its Ethernet header
  readonly tshark: TsharkRow;
}

// Minimal pcap reader (libpcap format, as tcpdump -w writes): Ethernet frames only.
export function readPcapEthernet(file: Uint8Array): { ethType: number; ip: Uint8Array }[] {
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const magic = dv.getUint32(0, true);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  assert.ok(le || dv.getUint32(0, false) === 0xa1b2c3d4 || dv.getUint32(0, false) === 0xa1b23c4d, 'not a pcap file');
  assert.equal(dv.getUint32(20, le), 1, 'pcap link type must be Ethernet');
  const out: { ethType: number; ip: Uint8Array }[] = [];
  for (let off = 24; off + 16 <= file.length; ) {
    const incl = dv.getUint32(off + 8, le);
    const frame = file.subarray(off + 16, off + 16 + incl);
    out.push({ ethType: (frame[12]! << 8) | frame[13]!, ip: frame.subarray(14) });
    off += 16 + incl;
  }
  return out;
}

export function runTshark(pcapPath: string): TsharkRow[] {
  const args = ['-n', '-r', pcapPath, '-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE'];
  args.push('-o', 'tcp.check_checksum:TRUE', '-T', 'fields', '-E', 'occurrence=f', '-E', 'separator=|');
  for (const f of TSHARK_FIELDS) args.push('-e', f);
  const text = execFileSync('tshark', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((line) => {
      const values = line.split('|');
      const row: TsharkRow = {};
      TSHARK_FIELDS.forEach((f, i) => {
        const v = values[i];
        if (v !== undefined && v !== '') row[f] = v;
      });
      return row;
    });
}

export function loadCapture(pcapPath: string): CapturedPacket[] {
  const frames = readPcapEthernet(readFileSync(pcapPath));
  const rows = runTshark(pcapPath);
  assert.equal(rows.length, frames.length, 'tshark and the pcap reader disagree on the frame count');
  return frames.map((f, i) => ({ frame: i + 1, ethType: f.ethType, ip: f.ip, tshark: rows[i]! }));
}

function sh(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Makes the traffic described at the top of this file and returns the pcap path (in dir).
export async function captureVethTraffic(dir: string): Promise<string> {
  const ns1 = `kpwire${process.pid}a`;
  const ns2 = `kpwire${process.pid}b`;
  const pcap = join(dir, 'capture.pcap');
  sh('ip', ['netns', 'add', ns1]);
  try {
    sh('ip', ['netns', 'add', ns2]);
    try {
      sh('ip', ['-n', ns1, 'link', 'add', 'name', 'kpa', 'type', 'veth', 'peer', 'name', 'kpb', 'netns', ns2]);
      // lo must be up: IPv6 delivers to local addresses through it.
      sh('ip', ['-n', ns1, 'link', 'set', 'lo', 'up']);
      sh('ip', ['-n', ns2, 'link', 'set', 'lo', 'up']);
      sh('ip', ['-n', ns1, 'link', 'set', 'kpa', 'mtu', '1280']);
      sh('ip', ['-n', ns2, 'link', 'set', 'kpb', 'mtu', '1280']);
      sh('ip', ['-n', ns1, 'addr', 'add', '10.77.0.1/24', 'dev', 'kpa']);
      sh('ip', ['-n', ns2, 'addr', 'add', '10.77.0.2/24', 'dev', 'kpb']);
      sh('ip', ['-n', ns1, 'addr', 'add', 'fd77::1/64', 'dev', 'kpa', 'nodad']);
      sh('ip', ['-n', ns2, 'addr', 'add', 'fd77::2/64', 'dev', 'kpb', 'nodad']);
      sh('ip', ['-n', ns1, 'link', 'set', 'kpa', 'up']);
      const td = spawn('ip', ['netns', 'exec', ns1, 'tcpdump', '-i', 'kpa', '--immediate-mode', '-U', '-w', pcap], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      const exited = new Promise<void>((r) => td.on('exit', () => r()));
      try {
        await new Promise<void>((resolve, reject) => {
          let err = '';
          const t = setTimeout(() => reject(new Error(`tcpdump did not start: ${err}`)), 10000);
          td.stderr.on('data', (d: Buffer) => {
            err += d.toString();
            if (err.includes('listening on')) {
              clearTimeout(t);
              resolve();
            }
          });
          td.on('exit', () => reject(new Error(`tcpdump exited: ${err}`)));
        });
        // Carrier up: the kernel sends MLDv2 reports (Hop-by-Hop Router Alert) right away.
        sh('ip', ['-n', ns2, 'link', 'set', 'kpb', 'up']);
        // Until both ends report carrier, IPv6 on them is not ready and neighbour
        // solicitations go unanswered (IPv4 works earlier): wait for it.
        for (let i = 0; ; i++) {
          const a = execFileSync('ip', ['-n', ns1, '-o', 'link', 'show', 'kpa'], { encoding: 'utf8' });
          const b = execFileSync('ip', ['-n', ns2, '-o', 'link', 'show', 'kpb'], { encoding: 'utf8' });
          if (a.includes('state UP') && b.includes('state UP')) break;
          if (i === 100) throw new Error('veth pair did not come up');
          await sleep(50);
        }
        await sleep(100);
        const script = `
          const d = require('dgram'), net = require('net');
          const s4 = d.createSocket('udp4'), s6 = d.createSocket('udp6');
          const c4 = net.connect(9, '10.77.0.2'); c4.on('error', () => {});
          const c6 = net.connect(9, 'fd77::2'); c6.on('error', () => {});
          s4.send(Buffer.from('hello keyplane'), 9, '10.77.0.2');
          s4.send(Buffer.alloc(2000, 7), 9, '10.77.0.2');
          s6.send(Buffer.from('hello keyplane'), 9, 'fd77::2');
          s6.send(Buffer.alloc(2000, 7), 9, 'fd77::2');
          setTimeout(() => process.exit(0), 300);`;
        execFileSync('ip', ['netns', 'exec', ns1, process.execPath, '-e', script], { stdio: 'ignore', timeout: 10000 });
        await sleep(300);
      } finally {
        td.kill('SIGTERM');
        await exited;
      }
    } finally {
      sh('ip', ['netns', 'del', ns2]);
    }
  } finally {
    sh('ip', ['netns', 'del', ns1]);
  }
  return pcap;
}

// ---- comparison of our decoders with tshark --------------------------------------------

function num(row: TsharkRow, field: string): number | undefined {
  const v = row[field];
  if (v === undefined) return undefined;
  if (v === 'True') return 1;
  if (v === 'False') return 0;
  return v.startsWith('0x') ? parseInt(v.slice(2), 16) : Number(v);
}

function must(row: TsharkRow, field: string): number {
  const v = num(row, field);
  assert.ok(v !== undefined && !Number.isNaN(v), `tshark gave no ${field} (frame ${row['frame.number']})`);
  return v;
}

// tshark checksum status: 0 bad, 1 good, 2 unverified.
function status(row: TsharkRow, field: string): boolean | undefined {
  const v = row[field];
  return v === '1' ? true : v === '0' ? false : undefined;
}

export interface CheckSummary {
  ipv4: number;
  ipv6: number;
  ipv4ChecksumsGood: number;
  hopByHop: number;
  ipv4Fragments: number;
  ipv6Fragments: number;
  reassembledUdpGood: number;
  udp: number;
  tcpGood: number;
  tcpBad: number;
  icmpGood: number;
  icmpv6Good: number;
  udpBad: number;
}

interface FragmentSet {
  parts: { offsetBytes: number; data: Uint8Array }[];
  src: Uint8Array;
  dst: Uint8Array;
}

function reassemble(set: FragmentSet): Uint8Array {
  const size = Math.max(...set.parts.map((p) => p.offsetBytes + p.data.length));
  const out = new Uint8Array(size);
  let covered = 0;
  for (const p of set.parts) {
    out.set(p.data, p.offsetBytes);
    covered += p.data.length;
  }
  assert.equal(covered, size, 'fragments do not tile the datagram');
  return out;
}

function checkUdp(row: TsharkRow, datagram: Uint8Array, src: Uint8Array, dst: Uint8Array, s: CheckSummary): boolean | undefined {
  const u = decodeUdpHeader(datagram);
  const f = row['frame.number'];
  assert.equal(u.srcPort, must(row, 'udp.srcport'), `frame ${f} udp src port`);
  assert.equal(u.dstPort, must(row, 'udp.dstport'), `frame ${f} udp dst port`);
  assert.equal(u.length, must(row, 'udp.length'), `frame ${f} udp length`);
  assert.equal(u.checksum, must(row, 'udp.checksum'), `frame ${f} udp checksum`);
  const expected = status(row, 'udp.checksum.status');
  if (expected !== undefined) {
    assert.equal(verifyUdpChecksum(src, dst, datagram.subarray(0, u.length)), expected, `frame ${f} udp checksum validity`);
    if (!expected) s.udpBad++;
  }
  s.udp++;
  return expected;
}

// Checks every IP packet of the capture against tshark's dissection; returns what was seen
// so that callers can insist the capture covered each case.
export function checkAgainstTshark(packets: readonly CapturedPacket[]): CheckSummary {
  const s: CheckSummary = {
    ipv4: 0,
    ipv6: 0,
    ipv4ChecksumsGood: 0,
    hopByHop: 0,
    ipv4Fragments: 0,
    ipv6Fragments: 0,
    reassembledUdpGood: 0,
    udp: 0,
    tcpGood: 0,
    tcpBad: 0,
    icmpGood: 0,
    icmpv6Good: 0,
    udpBad: 0,
  };
  const fragments = new Map<string, FragmentSet>();
  for (const p of packets) {
    const row = p.tshark;
    const f = p.frame;
    if (p.ethType === 0x0800) {
      s.ipv4++;
      const h = decodeIpv4Header(p.ip, { verifyChecksum: false });
      assert.equal(4, must(row, 'ip.version'));
      assert.equal(h.headerLength, must(row, 'ip.hdr_len'), `frame ${f} ihl`);
      assert.equal((h.dscp << 2) | h.ecn, must(row, 'ip.dsfield'), `frame ${f} tos`);
      assert.equal(h.totalLength, must(row, 'ip.len'), `frame ${f} total length`);
      assert.equal(h.identification, must(row, 'ip.id'), `frame ${f} id`);
      assert.equal(h.reservedFlag ? 1 : 0, must(row, 'ip.flags.rb'));
      assert.equal(h.dontFragment ? 1 : 0, must(row, 'ip.flags.df'), `frame ${f} DF`);
      assert.equal(h.moreFragments ? 1 : 0, must(row, 'ip.flags.mf'), `frame ${f} MF`);
      assert.equal(h.fragmentOffset, must(row, 'ip.frag_offset'), `frame ${f} fragment offset`);
      assert.equal(h.ttl, must(row, 'ip.ttl'));
      assert.equal(h.protocol, must(row, 'ip.proto'), `frame ${f} protocol`);
      assert.equal(h.checksum, must(row, 'ip.checksum'));
      assert.equal(formatIp(h.src), row['ip.src'], `frame ${f} src`);
      assert.equal(formatIp(h.dst), row['ip.dst'], `frame ${f} dst`);
      const good = status(row, 'ip.checksum.status');
      assert.ok(good !== undefined, `frame ${f}: tshark did not check the IPv4 header checksum`);
      assert.equal(verifyInternetChecksum(p.ip, 0, h.headerLength), good, `frame ${f} header checksum validity`);
      if (good) s.ipv4ChecksumsGood++;
      const flow = flowOf(p.ip);
      assert.equal(flow.version, 4);
      assert.ok(bytesEqual(flow.src, h.src) && bytesEqual(flow.dst, h.dst));
      assert.equal(flow.protocol, h.protocol);
      const isFragment = h.moreFragments || h.fragmentOffset !== 0;
      assert.equal(flow.isFragment, isFragment, `frame ${f} isFragment`);
      const upper = p.ip.subarray(h.headerLength, h.totalLength);
      if (isFragment) {
        s.ipv4Fragments++;
        const key = `4/${formatIp(h.src)}/${formatIp(h.dst)}/${h.protocol}/${h.identification}`;
        const set = fragments.get(key) ?? { parts: [], src: h.src, dst: h.dst };
        fragments.set(key, set);
        set.parts.push({ offsetBytes: h.fragmentOffset * 8, data: upper });
        assert.equal(flow.hasPorts, h.fragmentOffset === 0, `frame ${f}: only the first fragment has ports`);
        if (!h.moreFragments) {
          // tshark reassembles at the last fragment and dissects the whole datagram there.
          assert.equal(h.protocol, 17, 'the capture fragments only UDP');
          const datagram = reassemble(set);
          if (checkUdp(row, datagram, h.src, h.dst, s)) s.reassembledUdpGood++;
          assert.equal(fragments.delete(key), true);
        }
        continue;
      }
      checkUpper(row, h.protocol, upper, h.src, h.dst, flow, s, f);
    } else if (p.ethType === 0x86dd) {
      s.ipv6++;
      const h = decodeIpv6Header(p.ip);
      assert.equal(h.trafficClass, must(row, 'ipv6.tclass'), `frame ${f} traffic class`);
      assert.equal(h.flowLabel, must(row, 'ipv6.flow'), `frame ${f} flow label`);
      assert.equal(h.payloadLength, must(row, 'ipv6.plen'), `frame ${f} payload length`);
      assert.equal(h.nextHeader, must(row, 'ipv6.nxt'), `frame ${f} next header`);
      assert.equal(h.hopLimit, must(row, 'ipv6.hlim'));
      assert.equal(formatIp(h.src), row['ipv6.src'], `frame ${f} src`);
      assert.equal(formatIp(h.dst), row['ipv6.dst'], `frame ${f} dst`);
      const end = IPV6_HEADER_BYTES + h.payloadLength;
      const { extensions, chain } = decodeIpv6Extensions(p.ip, h.nextHeader, IPV6_HEADER_BYTES, end);
      const hbh = extensions.find((e) => e.type === 0);
      assert.equal(hbh !== undefined, row['ipv6.hopopts.nxt'] !== undefined, `frame ${f} Hop-by-Hop presence`);
      if (hbh !== undefined && hbh.type === 0) {
        s.hopByHop++;
        assert.equal((hbh.data.length + 2) / 8 - 1, must(row, 'ipv6.hopopts.len'), `frame ${f} Hop-by-Hop length`);
        const after = extensions[1]?.type ?? chain.protocol;
        assert.equal(after, must(row, 'ipv6.hopopts.nxt'), `frame ${f} Hop-by-Hop next header`);
      }
      const frag = extensions.find((e) => e.type === 44);
      assert.equal(frag !== undefined, row['ipv6.fraghdr.nxt'] !== undefined, `frame ${f} Fragment header presence`);
      const flow = flowOf(p.ip);
      assert.equal(flow.version, 6);
      assert.ok(bytesEqual(flow.src, h.src) && bytesEqual(flow.dst, h.dst));
      assert.equal(flow.protocol, chain.protocol);
      if (frag !== undefined && frag.type === 44) {
        s.ipv6Fragments++;
        assert.equal(frag.fragmentOffset, must(row, 'ipv6.fraghdr.offset'), `frame ${f} fragment offset`);
        assert.equal(frag.moreFragments ? 1 : 0, must(row, 'ipv6.fraghdr.more'), `frame ${f} M flag`);
        assert.equal(frag.identification, must(row, 'ipv6.fraghdr.ident'), `frame ${f} fragment id`);
        assert.equal(chain.protocol, must(row, 'ipv6.fraghdr.nxt'));
        assert.equal(flow.isFragment, true);
        assert.equal(flow.hasPorts, frag.fragmentOffset === 0);
        const key = `6/${formatIp(h.src)}/${formatIp(h.dst)}/${frag.identification}`;
        const set = fragments.get(key) ?? { parts: [], src: h.src, dst: h.dst };
        fragments.set(key, set);
        set.parts.push({ offsetBytes: frag.fragmentOffset * 8, data: p.ip.subarray(chain.offset, end) });
        if (!frag.moreFragments) {
          assert.equal(chain.protocol, 17, 'the capture fragments only UDP');
          if (checkUdp(row, reassemble(set), h.src, h.dst, s)) s.reassembledUdpGood++;
          assert.equal(fragments.delete(key), true);
        }
        continue;
      }
      assert.equal(flow.isFragment, false);
      checkUpper(row, chain.protocol, p.ip.subarray(chain.offset, end), h.src, h.dst, flow, s, f);
    }
  }
  assert.equal(fragments.size, 0, 'incomplete fragment sets in the capture');
  return s;
}

function checkUpper(
  row: TsharkRow,
  protocol: number,
  upper: Uint8Array,
  src: Uint8Array,
  dst: Uint8Array,
  flow: ReturnType<typeof flowOf>,
  s: CheckSummary,
  f: number,
): void {
  if (protocol === 17) {
    checkUdp(row, upper, src, dst, s);
    assert.equal(flow.srcPort, must(row, 'udp.srcport'));
    assert.equal(flow.dstPort, must(row, 'udp.dstport'));
    assert.equal(flow.hasPorts, true);
  } else if (protocol === 6) {
    const t = decodeTcpHeader(upper);
    assert.equal(t.srcPort, must(row, 'tcp.srcport'), `frame ${f} tcp src port`);
    assert.equal(t.dstPort, must(row, 'tcp.dstport'), `frame ${f} tcp dst port`);
    assert.equal(t.sequence, must(row, 'tcp.seq_raw'), `frame ${f} tcp seq`);
    assert.equal(t.acknowledgment, must(row, 'tcp.ack_raw'), `frame ${f} tcp ack`);
    assert.equal(t.headerLength, must(row, 'tcp.hdr_len'), `frame ${f} tcp header length`);
    assert.equal(t.flags, must(row, 'tcp.flags'), `frame ${f} tcp flags`);
    assert.equal(t.window, must(row, 'tcp.window_size_value'), `frame ${f} tcp window`);
    assert.equal(t.checksum, must(row, 'tcp.checksum'));
    assert.equal(t.urgentPointer, must(row, 'tcp.urgent_pointer'));
    const expected = status(row, 'tcp.checksum.status');
    assert.ok(expected !== undefined, `frame ${f}: tshark did not check the TCP checksum`);
    assert.equal(verifyTcpChecksum(src, dst, upper), expected, `frame ${f} tcp checksum validity`);
    if (expected) s.tcpGood++;
    else s.tcpBad++;
    assert.deepEqual([flow.srcPort, flow.dstPort, flow.hasPorts], [t.srcPort, t.dstPort, true]);
  } else if (protocol === 1) {
    const m = decodeIcmpv4(upper, { verifyChecksum: false });
    assert.equal(m.type, must(row, 'icmp.type'), `frame ${f} icmp type`);
    assert.equal(m.code, must(row, 'icmp.code'), `frame ${f} icmp code`);
    assert.equal(m.checksum, must(row, 'icmp.checksum'));
    const expected = status(row, 'icmp.checksum.status');
    assert.ok(expected !== undefined);
    assert.equal(verifyIcmpv4Checksum(upper), expected, `frame ${f} icmp checksum validity`);
    if (expected) s.icmpGood++;
    assert.deepEqual([flow.srcPort, flow.dstPort, flow.hasPorts], [m.type, m.code, true]);
  } else if (protocol === 58) {
    const m = decodeIcmpv6(upper);
    assert.equal(m.type, must(row, 'icmpv6.type'), `frame ${f} icmpv6 type`);
    assert.equal(m.code, must(row, 'icmpv6.code'), `frame ${f} icmpv6 code`);
    assert.equal(m.checksum, must(row, 'icmpv6.checksum'));
    const expected = status(row, 'icmpv6.checksum.status');
    assert.ok(expected !== undefined);
    assert.equal(verifyIcmpv6Checksum(src, dst, upper), expected, `frame ${f} icmpv6 checksum validity`);
    if (expected) s.icmpv6Good++;
    assert.deepEqual([flow.srcPort, flow.dstPort, flow.hasPorts], [m.type, m.code, true]);
  } else {
    assert.fail(`frame ${f}: unexpected protocol ${protocol} in the capture`);
  }
}

// The capture must have exercised every case, or the comparison proves little.
export function assertCoverage(s: CheckSummary): void {
  assert.ok(s.ipv4ChecksumsGood >= 5, `IPv4 headers with good checksums: ${s.ipv4ChecksumsGood}`);
  assert.ok(s.hopByHop >= 1, 'no IPv6 packet with a Hop-by-Hop header');
  assert.ok(s.ipv4Fragments >= 2, 'no fragmented IPv4 datagram');
  assert.ok(s.ipv6Fragments >= 2, 'no fragmented IPv6 datagram');
  assert.ok(s.reassembledUdpGood >= 2, 'no reassembled UDP datagram with a good checksum (v4 and v6)');
  assert.ok(s.tcpGood >= 1, 'no TCP segment with a good checksum');
  assert.ok(s.icmpGood >= 1, 'no ICMP message with a good checksum');
  assert.ok(s.icmpv6Good >= 3, 'too few ICMPv6 messages with good checksums');
}

export interface StoredCapture {
  readonly source: string;
  readonly tools: string;
  readonly packets: { frame: number; ethType: number; hex: string; tshark: TsharkRow }[];
}

export function fromStored(v: StoredCapture): CapturedPacket[] {
  return v.packets.map((p) => ({ frame: p.frame, ethType: p.ethType, ip: Buffer.from(p.hex, 'hex'), tshark: p.tshark }));
}

// `node dist/test/wire/capture.js write` (as root): regenerate test/vectors/wire-capture.json.
if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === 'write') {
  const dir = mkdtempSync(join(tmpdir(), 'kp-wire-'));
  try {
    const pcap = await captureVethTraffic(dir);
    const packets = loadCapture(pcap).filter((p) => p.ethType === 0x0800 || p.ethType === 0x86dd);
    const tools = [
      execFileSync('tcpdump', ['--version'], { encoding: 'utf8' }).split('\n')[0],
      execFileSync('tshark', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0],
      `Linux ${execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim()}`,
    ].join('; ');
    const stored: StoredCapture = {
      source:
        'Captured with tcpdump on a veth pair between two Linux network namespaces (MTU 1280); packets made by the ' +
        'kernel (MLDv2, ND, TCP RST, ICMP errors, UDP fragmentation); fields dissected by tshark with checksum ' +
        'validation on (status 1 good, 0 bad). See test/wire/capture.ts.',
      tools,
      packets: packets.map((p) => ({ frame: p.frame, ethType: p.ethType, hex: Buffer.from(p.ip).toString('hex'), tshark: p.tshark })),
    };
    const target = new URL('../../../test/vectors/wire-capture.json', import.meta.url);
    writeFileSync(target, JSON.stringify(stored, null, 1) + '\n');
    console.log(`wrote ${packets.length} packets to ${fileURLToPath(target)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
