// RFC 4301 §4.4.1.1 traffic selectors, compiled once into numeric ranges so that the
// per-packet match is a handful of integer comparisons (IPv4 addresses as uint32) or
// byte-range compares (IPv6).
import { inRange, parseIp, compareBytes } from '../wire/address.js';
import { DataPlaneError } from './errors.js';
import type { PacketFlow } from '../wire/packet-flow.js';
import type { AddressRange, TrafficSelector } from './types.js';

// The SPD matches on wire's flowOf() result. Ports: TCP/UDP/SCTP/...; for ICMP/ICMPv6
// srcPort = type and dstPort = code; `hasPorts` false for non-first fragments (OPAQUE).
export type SelectorFlow = Pick<PacketFlow, 'version' | 'src' | 'dst' | 'protocol' | 'srcPort' | 'dstPort' | 'hasPorts'>;

const ICMP = 1;
const ICMPV6 = 58;
// Protocols whose selectors carry ports (RFC 4301 §4.4.1.1: TCP, UDP, SCTP, DCCP, UDP-Lite)
// or ICMP type/code in the port fields (see types.ts TrafficSelector).
const PORT_PROTOCOLS: ReadonlySet<number> = new Set([6, 17, 33, 132, 136, ICMP, ICMPV6]);

export interface CompiledSelector {
  readonly source: TrafficSelector;
  readonly family: 0 | 4 | 6; // 0 = no address constraint (matches both families)
  // IPv4 ranges as uint32 (used when family is 4).
  readonly local4Start: number;
  readonly local4End: number;
  readonly remote4Start: number;
  readonly remote4End: number;
  // IPv6 ranges (used when family is 6); null = any.
  readonly local6: { readonly start: Uint8Array; readonly end: Uint8Array } | null;
  readonly remote6: { readonly start: Uint8Array; readonly end: Uint8Array } | null;
  readonly protocol: number; // -1 = any
  readonly localPortStart: number;
  readonly localPortEnd: number;
  readonly remotePortStart: number;
  readonly remotePortEnd: number;
  // True when a port (or ICMP type/code) range is narrower than "any": such a selector
  // cannot match a packet whose ports are unknown (RFC 4301 §7.1, non-initial fragments).
  readonly portsConstrained: boolean;
  readonly icmp: boolean; // protocol is ICMP/ICMPv6: ports are type/code, not directional
}

function bad(message: string): never {
  throw new DataPlaneError('bad-policy', message);
}

function compileRange(what: string, range: AddressRange | undefined): { start: Uint8Array; end: Uint8Array } | null {
  if (range === undefined) return null;
  let start: Uint8Array;
  let end: Uint8Array;
  try {
    start = parseIp(range.start);
    end = parseIp(range.end);
  } catch (err) {
    bad(`selector ${what}: ${(err as Error).message}`);
  }
  if (start.length !== end.length) bad(`selector ${what}: ${range.start} and ${range.end} are not the same address family`);
  if (compareBytes(start, end) > 0) bad(`selector ${what}: start ${range.start} is above end ${range.end}`);
  return { start, end };
}

function u32(bytes: Uint8Array): number {
  return ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
}

function portRange(what: string, r: { readonly start: number; readonly end: number } | undefined, max: number): [number, number] {
  if (r === undefined) return [0, max];
  if (!Number.isInteger(r.start) || !Number.isInteger(r.end) || r.start < 0 || r.end > max || r.start > r.end) {
    bad(`selector ${what}: range ${r.start}-${r.end} is not within 0-${max} in order`);
  }
  return [r.start, r.end];
}

// Throws DataPlaneError('bad-policy') for a selector that cannot be matched sensibly.
export function compileSelector(sel: TrafficSelector): CompiledSelector {
  const local = compileRange('local', sel.local);
  const remote = compileRange('remote', sel.remote);
  if (local !== null && remote !== null && local.start.length !== remote.start.length) {
    bad('selector: local and remote ranges are different address families');
  }
  const width = local?.start.length ?? remote?.start.length ?? 0;
  const family: 0 | 4 | 6 = width === 0 ? 0 : width === 4 ? 4 : 6;
  const protocol = sel.protocol ?? -1;
  if (!Number.isInteger(protocol) || protocol < -1 || protocol > 255) bad(`selector protocol ${String(sel.protocol)} is not 0-255`);
  const icmp = protocol === ICMP || protocol === ICMPV6;
  if ((sel.localPorts !== undefined || sel.remotePorts !== undefined) && !PORT_PROTOCOLS.has(protocol)) {
    bad(`selector: ports need a protocol that has them (tcp, udp, sctp, icmp type/code), not ${protocol < 0 ? 'any' : protocol}`);
  }
  const max = icmp ? 255 : 65535;
  const [lps, lpe] = portRange(icmp ? 'icmp type' : 'localPorts', sel.localPorts, max);
  const [rps, rpe] = portRange(icmp ? 'icmp code' : 'remotePorts', sel.remotePorts, max);
  return {
    source: sel,
    family,
    local4Start: family === 4 && local !== null ? u32(local.start) : 0,
    local4End: family === 4 && local !== null ? u32(local.end) : 0xffff_ffff,
    remote4Start: family === 4 && remote !== null ? u32(remote.start) : 0,
    remote4End: family === 4 && remote !== null ? u32(remote.end) : 0xffff_ffff,
    local6: family === 6 ? local : null,
    remote6: family === 6 ? remote : null,
    protocol,
    localPortStart: lps,
    localPortEnd: lpe,
    remotePortStart: rps,
    remotePortEnd: rpe,
    portsConstrained: lps !== 0 || lpe !== max || rps !== 0 || rpe !== max,
    icmp,
  };
}

// Does `flow` match the selector? `inbound` false: the packet leaves (local = source);
// true: it arrived (local = destination), as for the RFC 4301 §5.2 check of a decrypted
// packet against its SA.
export function matchSelector(sel: CompiledSelector, flow: SelectorFlow, inbound: boolean): boolean {
  if (sel.protocol >= 0 && flow.protocol !== sel.protocol) return false;
  const local = inbound ? flow.dst : flow.src;
  const remote = inbound ? flow.src : flow.dst;
  if (sel.family === 4) {
    if (flow.version !== 4) return false;
    const l = u32(local);
    if (l < sel.local4Start || l > sel.local4End) return false;
    const r = u32(remote);
    if (r < sel.remote4Start || r > sel.remote4End) return false;
  } else if (sel.family === 6) {
    if (flow.version !== 6) return false;
    if (sel.local6 !== null && !inRange(local, sel.local6.start, sel.local6.end)) return false;
    if (sel.remote6 !== null && !inRange(remote, sel.remote6.start, sel.remote6.end)) return false;
  }
  if (!sel.portsConstrained) return true;
  // RFC 4301 §4.4.1.1, §7.1: without ports (non-first fragment, truncated header) only
  // an ANY port selector matches.
  if (!flow.hasPorts) return false;
  let lp: number;
  let rp: number;
  if (sel.icmp) {
    lp = flow.srcPort; // ICMP type
    rp = flow.dstPort; // ICMP code
  } else {
    lp = inbound ? flow.dstPort : flow.srcPort;
    rp = inbound ? flow.srcPort : flow.dstPort;
  }
  return lp >= sel.localPortStart && lp <= sel.localPortEnd && rp >= sel.remotePortStart && rp <= sel.remotePortEnd;
}
