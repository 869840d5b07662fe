// The SPD lookup key of a raw IP packet (RFC 4301 §4.4.1.1 selectors): addresses, next
// layer protocol and ports. Runs for every packet, so it reads only the bytes it needs,
// allocates only the two address views (and a result object unless one is passed in), and
// formats strings only when it throws.
//
// The IPv4 header checksum is not verified here: packets reach this from the local TUN
// device (written by the kernel) or after ESP integrity checks; decodeIpv4Header verifies.
import { DecodeError } from './errors.js';
import { createIpv6Chain, IPV6_HEADER_BYTES, NH_HOP_BY_HOP, walkIpv6Chain } from './ipv6.js';

export interface PacketFlow {
  version: 4 | 6;
  src: Uint8Array; // view into the packet
  dst: Uint8Array; // view into the packet
  // Next layer protocol: after IPv6 extension headers; 50 for ESP, 59 for none. For a
  // non-first IPv6 fragment, the Fragment header's Next Header.
  protocol: number;
  // TCP, UDP, SCTP, DCCP, UDP-Lite: the ports. ICMP/ICMPv6: srcPort = type, dstPort = code
  // (RFC 4301 §4.4.1.1, as src/ipsec/types.ts TrafficSelector carries them). Mobility
  // Header: srcPort = MH type. 0 when absent.
  srcPort: number;
  dstPort: number;
  // Whether srcPort/dstPort carry values. False for protocols without ports and for
  // non-first fragments, whose ports are OPAQUE (RFC 4301 §4.4.1.1, §7).
  hasPorts: boolean;
  // Any fragment, first or not (IPv4 MF or offset; IPv6 Fragment header with M or offset).
  isFragment: boolean;
  transportOffset: number; // where the `protocol` header starts
  packetLength: number; // bytes of the packet per its IP header (may be < packet.length)
}

export function createPacketFlow(): PacketFlow {
  const empty = new Uint8Array(0);
  return {
    version: 4,
    src: empty,
    dst: empty,
    protocol: 0,
    srcPort: 0,
    dstPort: 0,
    hasPorts: false,
    isFragment: false,
    transportOffset: 0,
    packetLength: 0,
  };
}

const chain = createIpv6Chain(); // scratch: flowOf is synchronous and not re-entered

const PROTO_ICMP = 1;
const PROTO_TCP = 6;
const PROTO_UDP = 17;
const PROTO_DCCP = 33;
const PROTO_ICMPV6 = 58;
const PROTO_SCTP = 132;
const PROTO_MH = 135;
const PROTO_UDPLITE = 136;

function protocolName(p: number): string {
  switch (p) {
    case PROTO_ICMP:
      return 'icmp';
    case PROTO_TCP:
      return 'tcp';
    case PROTO_UDP:
      return 'udp';
    case PROTO_ICMPV6:
      return 'icmpv6';
    case PROTO_MH:
      return 'mobility-header';
    default:
      return `protocol-${p}`;
  }
}

// Fills the port fields from the upper-layer header at packet[off, end).
function readPorts(packet: Uint8Array, off: number, end: number, out: PacketFlow): void {
  const p = out.protocol;
  let need: number;
  if (p === PROTO_TCP || p === PROTO_UDP || p === PROTO_SCTP || p === PROTO_DCCP || p === PROTO_UDPLITE) need = 4;
  else if (p === PROTO_ICMP || p === PROTO_ICMPV6) need = 2;
  else if (p === PROTO_MH) need = 3;
  else {
    out.srcPort = 0;
    out.dstPort = 0;
    out.hasPorts = false;
    return;
  }
  if (off + need > end) {
    // A whole packet or first fragment too short to hold the ports is malformed; for a first
    // fragment RFC 4301 §7.3 has no port-less interpretation either.
    throw new DecodeError(protocolName(p), 'truncated', `${end - off} bytes, ports need ${need}`);
  }
  if (need === 4) {
    out.srcPort = (packet[off]! << 8) | packet[off + 1]!;
    out.dstPort = (packet[off + 2]! << 8) | packet[off + 3]!;
  } else if (need === 2) {
    out.srcPort = packet[off]!; // ICMP type
    out.dstPort = packet[off + 1]!; // ICMP code
  } else {
    out.srcPort = packet[off + 2]!; // MH type (RFC 6275 §6.1.1)
    out.dstPort = 0;
  }
  out.hasPorts = true;
}

function flowOfIpv4(packet: Uint8Array, out: PacketFlow): PacketFlow {
  if (packet.length < 20) throw new DecodeError('ipv4', 'truncated', `${packet.length} bytes, header needs 20`);
  const hl = (packet[0]! & 0x0f) * 4;
  if (hl < 20) throw new DecodeError('ipv4', 'bad-length', `IHL ${hl / 4} < 5`);
  const total = (packet[2]! << 8) | packet[3]!;
  if (total < hl) throw new DecodeError('ipv4', 'bad-length', `total length ${total} < header length ${hl}`);
  if (total > packet.length) throw new DecodeError('ipv4', 'truncated', `total length ${total} > ${packet.length} bytes`);
  const fragOffset = ((packet[6]! & 0x1f) << 8) | packet[7]!;
  const more = (packet[6]! & 0x20) !== 0;
  out.version = 4;
  out.src = new Uint8Array(packet.buffer, packet.byteOffset + 12, 4);
  out.dst = new Uint8Array(packet.buffer, packet.byteOffset + 16, 4);
  out.protocol = packet[9]!;
  out.isFragment = more || fragOffset !== 0;
  out.transportOffset = hl;
  out.packetLength = total;
  if (fragOffset !== 0) {
    out.srcPort = 0;
    out.dstPort = 0;
    out.hasPorts = false;
  } else {
    readPorts(packet, hl, total, out);
  }
  return out;
}

function flowOfIpv6(packet: Uint8Array, out: PacketFlow): PacketFlow {
  if (packet.length < IPV6_HEADER_BYTES) {
    throw new DecodeError('ipv6', 'truncated', `${packet.length} bytes, header needs ${IPV6_HEADER_BYTES}`);
  }
  const payloadLength = (packet[4]! << 8) | packet[5]!;
  const nextHeader = packet[6]!;
  if (payloadLength === 0 && nextHeader === NH_HOP_BY_HOP) {
    throw new DecodeError('ipv6', 'unsupported', 'jumbogram (payload length 0 with Hop-by-Hop options)');
  }
  const end = IPV6_HEADER_BYTES + payloadLength;
  if (end > packet.length) {
    throw new DecodeError('ipv6', 'truncated', `payload length ${payloadLength} > ${packet.length - IPV6_HEADER_BYTES} bytes`);
  }
  walkIpv6Chain(packet, nextHeader, IPV6_HEADER_BYTES, end, chain);
  out.version = 6;
  out.src = new Uint8Array(packet.buffer, packet.byteOffset + 8, 16);
  out.dst = new Uint8Array(packet.buffer, packet.byteOffset + 24, 16);
  out.protocol = chain.protocol;
  out.isFragment = chain.moreFragments || chain.fragmentOffset !== 0;
  out.transportOffset = chain.offset;
  out.packetLength = end;
  if (chain.fragmentOffset !== 0) {
    out.srcPort = 0;
    out.dstPort = 0;
    out.hasPorts = false;
  } else {
    readPorts(packet, chain.offset, end, out);
  }
  return out;
}

// The flow of the IP packet at the start of `packet` (version from the first nibble).
// Pass `out` (from createPacketFlow) to reuse one result object across packets; the
// returned object is `out`. Throws DecodeError for malformed packets.
export function flowOf(packet: Uint8Array, out: PacketFlow = createPacketFlow()): PacketFlow {
  if (packet.length === 0) throw new DecodeError('ip', 'truncated', 'empty packet');
  const version = packet[0]! >> 4;
  if (version === 4) return flowOfIpv4(packet, out);
  if (version === 6) return flowOfIpv6(packet, out);
  throw new DecodeError('ip', 'bad-version', `version ${version}`);
}
