// Tunnel and transport mode (RFC 4301 §4.1, RFC 4303 §3.1): what goes into the ESP
// payload on the way out and what IP packet comes out on the way in.
//
// The engine always takes and returns whole IP packets, as a TUN device does:
// - tunnel mode: the payload is the inner packet, Next Header 4 (IPv4) or 41 (IPv6); the
//   caller puts the ESP packet in an outer header (local -> remote address of the SA).
// - transport mode: the payload is what follows the IP header, Next Header the original
//   protocol. The caller sends the ESP packet between the same two addresses (they are the
//   SA's addresses), so no information is lost; on the way in the IP header is rebuilt
//   from the SA's addresses (remote -> local), Next Header as protocol.
import { IPV4_MIN_HEADER_BYTES, writeIpv4Header } from '../wire/ipv4.js';
import { IPV6_HEADER_BYTES, NH_FRAGMENT, NH_HOP_BY_HOP, NH_ROUTING, writeIpv6Header } from '../wire/ipv6.js';
import { transportChecksum } from '../wire/checksum.js';
import type { PacketFlow } from '../wire/packet-flow.js';

export const NEXT_HEADER_IPV4 = 4; // IP-in-IP (RFC 2003)
export const NEXT_HEADER_IPV6 = 41; // RFC 2473

const PROTO_TCP = 6;
const PROTO_UDP = 17;
// TTL / hop limit of a rebuilt transport-mode header: the original is not carried by ESP.
const REBUILT_TTL = 64;

export interface ModePayload {
  payload: Uint8Array;
  nextHeader: number;
}

export function createModePayload(): ModePayload {
  return { payload: new Uint8Array(0), nextHeader: 0 };
}

// Tunnel mode: the whole inner packet (without link padding beyond its IP length).
export function tunnelPayload(packet: Uint8Array, flow: PacketFlow, out: ModePayload): void {
  out.payload = packet.subarray(0, flow.packetLength);
  out.nextHeader = flow.version === 4 ? NEXT_HEADER_IPV4 : NEXT_HEADER_IPV6;
}

// Transport mode: the part after the IP header. Returns a drop reason when the packet
// cannot be carried: a fragment (RFC 4301 §4.1: transport mode SAs carry whole datagrams;
// the caller reassembles first) or IPv6 Hop-by-Hop/Routing/Fragment headers, which
// RFC 4303 §3.1.1 places before ESP and which the rebuilt header could not restore.
export function transportPayload(packet: Uint8Array, flow: PacketFlow, out: ModePayload): string | null {
  if (flow.isFragment) return 'transport-fragment';
  if (flow.version === 4) {
    const hl = (packet[0]! & 0x0f) * 4;
    out.payload = packet.subarray(hl, flow.packetLength);
    out.nextHeader = packet[9]!;
    return null;
  }
  const nh = packet[6]!;
  if (nh === NH_HOP_BY_HOP || nh === NH_ROUTING || nh === NH_FRAGMENT) return 'transport-ext-header';
  out.payload = packet.subarray(IPV6_HEADER_BYTES, flow.packetLength);
  out.nextHeader = nh;
  return null;
}

// Inbound transport mode: a new IP packet from `src` to `dst` (the SA's remote and local
// addresses) carrying `payload` as protocol `nextHeader`. With UDP encapsulation the peer
// may be behind a NAT, so the TCP/UDP checksum, computed over the peer's own (private)
// address, is recomputed for the addresses seen here (RFC 3948 §3.1.2); ESP integrity
// already covered the segment, so nothing is lost by recomputing.
export function buildTransportPacket(
  src: Uint8Array,
  dst: Uint8Array,
  nextHeader: number,
  payload: Uint8Array,
  fixChecksum: boolean,
): Buffer | null {
  const v4 = src.length === 4;
  const hl = v4 ? IPV4_MIN_HEADER_BYTES : IPV6_HEADER_BYTES;
  const total = hl + payload.length;
  if (v4 ? total > 0xffff : payload.length > 0xffff) return null;
  const out = Buffer.allocUnsafe(total);
  if (v4) {
    writeIpv4Header(out, 0, { totalLength: total, ttl: REBUILT_TTL, protocol: nextHeader, src, dst });
  } else {
    writeIpv6Header(out, 0, { payloadLength: payload.length, nextHeader, hopLimit: REBUILT_TTL, src, dst });
  }
  out.set(payload, hl);
  if (fixChecksum) {
    if (nextHeader === PROTO_TCP && payload.length >= 20) {
      const sum = transportChecksum(src, dst, PROTO_TCP, out, hl, total, 16);
      out.writeUInt16BE(sum, hl + 16);
    } else if (nextHeader === PROTO_UDP && payload.length >= 8) {
      // IPv4 UDP checksum 0 means "none" (RFC 768) and stays so.
      if (!(v4 && out.readUInt16BE(hl + 6) === 0)) {
        const sum = transportChecksum(src, dst, PROTO_UDP, out, hl, total, 6);
        out.writeUInt16BE(sum === 0 ? 0xffff : sum, hl + 6);
      }
    }
  }
  return out;
}
