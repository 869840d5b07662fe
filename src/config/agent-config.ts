// The agent's config file (`keyplane agent run --config FILE`, docs/configuration.md
// "Agent configuration"): where its enrollment and channel state live, its data plane, and
// the extended SPD entries of seed 000 ("Device SPD entry": PROTECT with a setting-request
// peer address and no policy; the policy and SAs come from the controller on demand).
//
// One `protect` item is one SPD entry, hence one (peer, flow) pair asked of the
// controller. Several entries towards the same peer and flow are refused: the controller
// pairs requests by (requester, peer, flow) (seed 000 S9) and a request activation names
// only the peer and flow (S23), so the peer could not tell which of them is meant and the
// SAs would end up paired with the wrong selectors. For the same reason a list of
// prefixes under `local` or `remote` must join into one range.
//
// Every problem is reported at once as a ConfigError whose issues carry the field path
// (e.g. `protect[1].remote[0]`); messages go through echo() and never show key material.

import { z } from 'zod';
import type { AddressRange, TrafficSelector } from '../ipsec/types.js';
import { DEFAULT_CONTROL_PORT } from '../io/control-udp.js';
import type { AgentOptions, AgentSpdEntry } from '../settings/types.js';
import type { FlowSelector } from '../wire/control-settings.js';
import { addressFamily, canonicalAddress, parseAddressSpec, type Family } from './address.js';
import { configError, parseConfigText, readConfigFile, resolveConfigPath } from './config-text.js';
import { contactEndpoint } from './endpoint.js';
import { ConfigError, IssueList, echo } from './errors.js';
import { isPlainObject, parseFields } from './fields.js';
import { intField, pathField, requiredOr, secondsField } from './zod-fields.js';
import { agentFlowSchema, checkFlow } from './flow.js';
import { formatRange, joinRanges, rangeFamily, rangesOverlap, selectorsOverlap } from './ranges.js';

export const DEFAULT_AGENT_ENROLLMENT_FILE = '/var/lib/keyplane/agent.json';
export const DEFAULT_AGENT_STATE_FILE = '/var/lib/keyplane/agent-state.json';
export const DEFAULT_AGENT_TUN = 'kp0';
export const DEFAULT_AGENT_MTU = 1400;
export const DEFAULT_AGENT_ESP_PORT = 4500; // RFC 3948 §2: ESP in UDP
export const AGENT_PRIORITY_STEP = 10; // default priorities 10, 20, ... leave room in between
const MAX_PRIORITY = 2 ** 31 - 1;
const IPV6_MIN_MTU = 1280; // RFC 8200 §5

export type AgentMode = 'router' | 'pc';

// The settings core's options a config may set (the random source is the shell's).
export type AgentTuning = Partial<Omit<AgentOptions, 'random'>>;

export interface AgentDataplaneSettings {
  readonly tun: string; // TUN device name
  readonly mtu: number; // TUN MTU
  readonly port: number; // local UDP port of ESP in UDP (RFC 3948)
}

export interface AgentConfig {
  readonly file: string;
  readonly enrollment: string; // enrollment file (keyplane agent enroll)
  readonly state: string; // channel state file
  readonly controller: string | null; // "address:port" overriding the enrollment's, or null
  readonly registrationSeconds: number | null; // null: the agent's default
  readonly mode: AgentMode;
  readonly address: string; // this device's IPsec address, canonical
  readonly dataplane: AgentDataplaneSettings;
  readonly entries: readonly AgentSpdEntry[]; // one per protect item, in file order
  // Only what the file sets, in the core's units (ms). Also udpEncapPort = dataplane.port:
  // the SAs send to the peer's port, assumed equal to ours (all devices use one port).
  readonly tuning: AgentTuning;
}

export interface AgentConfigOptions {
  // Name used in messages and as the base for relative paths.
  readonly file: string;
}

// ------------------------------------------------------------------------------ shape

function addressField(expected: string) {
  return z.string({ error: requiredOr(expected) }).transform((s, ctx) => {
    const c = canonicalAddress(s.trim());
    if (c === undefined || c === '0.0.0.0' || c === '::') {
      ctx.addIssue({ code: 'custom', message: c === undefined ? `expected ${expected}, got ${echo(s)}` : `the unspecified address ${c} names no device` });
      return z.NEVER;
    }
    return c;
  });
}

interface ParsedRange {
  readonly range: AddressRange;
  readonly family: Family;
}

// A list of addresses, prefixes or ranges (or one of them as a plain string). "any" is
// refused: it would also catch the tunnel's own packets and the control channel.
const rangeList = (what: string) =>
  z.unknown().transform((value, ctx): ParsedRange[] => {
    if (value === undefined) {
      ctx.addIssue({ code: 'custom', message: `required: ${what}` });
      return z.NEVER;
    }
    const single = typeof value === 'string';
    const list: unknown[] | undefined = single ? [value] : Array.isArray(value) ? value : undefined;
    if (list === undefined || list.length === 0) {
      ctx.addIssue({ code: 'custom', message: `expected a list of addresses or prefixes such as [10.1.0.0/24]: ${what}` });
      return z.NEVER;
    }
    const out: ParsedRange[] = [];
    list.forEach((item, i) => {
      const path = single ? [] : [i];
      const r = typeof item === 'string' ? parseAddressSpec(item) : 'expected an address, prefix (10.1.0.0/24) or range (a-b) as a string';
      if (typeof r === 'string') ctx.addIssue({ code: 'custom', message: r, path });
      else if (r.range === undefined || r.family === undefined) {
        ctx.addIssue({ code: 'custom', message: 'name the addresses (e.g. 10.2.0.0/16); "any" would also catch the tunnel and the control channel', path });
      } else out.push({ range: r.range, family: r.family });
    });
    return out;
  });

const dataplaneSchema = z
  .strictObject({
    // Linux IFNAMSIZ is 16 including the terminating NUL.
    tun: z
      .string({ error: 'expected an interface name' })
      .regex(/^[A-Za-z0-9_.-]{1,15}$/, { error: 'expected an interface name of 1-15 letters, digits, "_", "." or "-"' })
      .default(DEFAULT_AGENT_TUN),
    mtu: intField(576, 65535).default(DEFAULT_AGENT_MTU), // 576: the IPv4 minimum datagram size
    port: intField(1, 65535).default(DEFAULT_AGENT_ESP_PORT),
  })
  .prefault({});

const settingsSchema = z
  .strictObject({
    retransmitSeconds: secondsField(0.1, 300).optional(), // seed 000 S43: 5 s
    maxSends: intField(1, 100).optional(), // seed 000 S43: 6
    holdPackets: intField(0, 100_000).optional(),
    renewAtFraction: z
      .number({ error: 'expected a fraction 0.5-0.95 of the SA lifetime' })
      .min(0.5, { error: 'expected at least 0.5: renewing earlier halves the SA lifetime for nothing' })
      .max(0.95, { error: 'expected at most 0.95: later leaves too little time for the request and the switch' })
      .optional(),
    switchDelaySeconds: secondsField(0, 300).optional(),
    // The settings core keeps 0 (off) or 64-65536 packets (RFC 4303 §3.4.3: at least 32).
    replayWindow: z
      .number({ error: 'expected 0 (anti-replay off) or 64-65536 packets' })
      .refine((n) => n === 0 || (Number.isInteger(n) && n >= 64 && n <= 65536), { error: 'expected 0 (anti-replay off) or 64-65536 packets' })
      .optional(),
  })
  .prefault({});

const topShape = {
  enrollment: pathField('the enrollment file').default(DEFAULT_AGENT_ENROLLMENT_FILE),
  state: pathField('the channel state file').default(DEFAULT_AGENT_STATE_FILE),
  controller: contactEndpoint(DEFAULT_CONTROL_PORT).optional(),
  registrationSeconds: secondsField(0.1, 86400).optional(),
  mode: z.enum(['router', 'pc'], {
    error: (iss) => `${iss.input === undefined ? 'required: ' : 'expected '}"router" (protects subnets behind this device) or "pc" (this device's own traffic)`,
  }),
  address: addressField("this device's IPsec address (IPv4 or IPv6)"),
  dataplane: dataplaneSchema,
  protect: z
    .array(z.unknown(), { error: (iss) => (iss.input === undefined ? 'required: a list of the traffic to protect' : 'expected a list of the traffic to protect') })
    .min(1, { error: 'expected at least one entry: without traffic to protect, run the agent without --config' }),
  settings: settingsSchema,
};

// Also the SPD policy id, shown in status and logs.
const entryName = z
  .string({ error: requiredOr('a name for the entry') })
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/, { error: 'expected a name of 1-64 letters, digits, "_", ".", ":" or "-", starting with a letter or digit' });

const protectShape = {
  name: entryName,
  peer: addressField("the peer device's IPsec address"),
  local: rangeList('the subnets behind this device').optional(),
  remote: rangeList('what is reached through the peer (a host, subnets)'),
  flow: agentFlowSchema.optional(),
  priority: intField(0, MAX_PRIORITY).optional(),
};

// ------------------------------------------------------------------------------ loading

export function loadAgentConfig(path: string): AgentConfig {
  return parseAgentConfig(readConfigFile(path), { file: path });
}

// What the cross-entry rules need of one protect item; `entry` only when the item is valid.
interface Item {
  readonly index: number;
  readonly name: string | undefined;
  readonly peer: string | undefined;
  readonly flow: FlowSelector | null | undefined; // undefined: the flow has errors
  readonly flowWritten: boolean;
  readonly entry: AgentSpdEntry | undefined;
}

export function parseAgentConfig(text: string, options: AgentConfigOptions): AgentConfig {
  const file = options.file;
  const issues = new IssueList();
  const top = parseFields(topShape, parseConfigText(text, file, 'the keys mode, address and protect'), [], issues, 'the agent settings');
  const f = top?.fields ?? {};
  const address = f.address;
  const mode = f.mode;
  const raw = f.protect ?? [];

  const writtenNames = raw.map((p) => (isPlainObject(p) && typeof p['name'] === 'string' ? p['name'] : undefined));
  const items: Item[] = [];
  raw.forEach((value, i) => {
    const item = checkProtect(value, i, writtenNames, address, mode, issues);
    if (item !== undefined) items.push(item);
  });
  checkAcrossEntries(items, issues);
  const entries = items.map((it) => it.entry).filter((e): e is AgentSpdEntry => e !== undefined);

  const dp = f.dataplane;
  if (dp !== undefined && dp.mtu < IPV6_MIN_MTU) {
    const v6 = items.find((it) => it.entry?.selector.remote !== undefined && rangeFamily(it.entry.selector.remote) === 6);
    if (v6 !== undefined) {
      issues.add('dataplane.mtu', `protect[${v6.index}] carries IPv6, which needs an MTU of at least ${IPV6_MIN_MTU} (RFC 8200 §5)`);
    }
  }

  if (issues.length > 0 || top === undefined || !top.complete) throw configError(file, issues.all);
  if (address === undefined || mode === undefined || dp === undefined || f.enrollment === undefined || f.state === undefined) {
    throw new ConfigError(file, [{ path: '', message: 'incomplete' }]); // unreachable: a missing field is an issue above
  }
  return {
    file,
    enrollment: resolveConfigPath(file, f.enrollment),
    state: resolveConfigPath(file, f.state),
    controller: f.controller ?? null,
    registrationSeconds: f.registrationSeconds ?? null,
    mode,
    address,
    dataplane: { tun: dp.tun, mtu: dp.mtu, port: dp.port },
    entries,
    tuning: tuningOf(f.settings ?? {}, dp.port),
  };
}

function tuningOf(s: z.output<typeof settingsSchema>, port: number): AgentTuning {
  const ms = (seconds: number): number => Math.round(seconds * 1000);
  return {
    ...(s.retransmitSeconds !== undefined ? { retransmitIntervalMs: ms(s.retransmitSeconds) } : {}),
    ...(s.maxSends !== undefined ? { maxSends: s.maxSends } : {}),
    ...(s.holdPackets !== undefined ? { holdQueuePackets: s.holdPackets } : {}),
    ...(s.renewAtFraction !== undefined ? { renewAtFraction: s.renewAtFraction } : {}),
    ...(s.switchDelaySeconds !== undefined ? { switchDelayMs: ms(s.switchDelaySeconds) } : {}),
    ...(s.replayWindow !== undefined ? { replayWindow: s.replayWindow } : {}),
    udpEncapPort: port,
  };
}

// One protect item: its own fields, then the rules that tie them to each other and to
// the device (mode, address). Undefined when the item is no mapping; `entry` is set only
// when the item is entirely valid (every problem is reported).
function checkProtect(
  value: unknown,
  i: number,
  writtenNames: readonly (string | undefined)[],
  address: string | undefined,
  mode: AgentMode | undefined,
  issues: IssueList,
): Item | undefined {
  const at = `protect[${i}]`;
  const parsed = parseFields(protectShape, value, ['protect', i], issues, 'a protect entry (name, peer, remote, ...)');
  if (parsed === undefined) return undefined;
  const before = issues.length;
  const p = parsed.fields;

  const name = writtenNames[i];
  const first = name === undefined ? -1 : writtenNames.indexOf(name);
  if (first >= 0 && first !== i) issues.add(`${at}.name`, `duplicate name ${echo(name ?? '')} (first at protect[${first}])`);

  if (p.peer !== undefined && address !== undefined) {
    if (p.peer === address) {
      issues.add(`${at}.peer`, `${p.peer} is this device's own address; peer is the other device's IPsec address`);
    } else if (addressFamily(p.peer) !== addressFamily(address)) {
      issues.add(`${at}.peer`, `IPv${addressFamily(p.peer)} but address ${address} is IPv${addressFamily(address)}; both ends of the tunnel must be the same family`);
    }
  }

  // local: the traffic's source side. A PC protects its own traffic only.
  let local: AddressRange | undefined;
  if (mode === 'pc' && address !== undefined) {
    // A PC protects its own traffic only: one host address of its own, by default its
    // IPsec address (it may be another address of the device, e.g. one on a loopback or
    // inner interface, as a remote-access client's virtual address is).
    local = { start: address, end: address };
    if (p.local !== undefined) {
      const j = joinRanges(p.local.map((r) => r.range));
      if (!('range' in j) || j.range.start !== j.range.end) {
        issues.add(`${at}.local`, `in pc mode the protected traffic is this device's own: leave local out (= [${address}]) or write one host address of this device`);
      } else local = j.range;
    }
  } else if (mode === 'router') {
    if (p.local === undefined) {
      if (!parsed.failed.has('local')) issues.add(`${at}.local`, 'required in router mode: the subnets behind this device, e.g. [10.1.0.0/24]');
    } else local = joinList(p.local, `${at}.local`, issues);
  }

  const remote = p.remote === undefined ? undefined : joinList(p.remote, `${at}.remote`, issues);
  if (p.remote !== undefined && local !== undefined) {
    const localFamily = rangeFamily(local);
    p.remote.forEach((r, k) => {
      if (r.family !== localFamily) {
        issues.add(`${at}.remote[${k}]`, `IPv${r.family} but local ${formatRange(local)} is IPv${localFamily}; both sides of an entry must be the same family`);
      } else if (rangesOverlap(r.range, local)) {
        issues.add(`${at}.remote[${k}]`, `${formatRange(r.range)} overlaps local ${formatRange(local)}; traffic between hosts on the same side never crosses the tunnel`);
      }
    });
  }

  let flow: FlowSelector | null | undefined = parsed.failed.has('flow') ? undefined : null;
  let ports: Pick<TrafficSelector, 'localPorts' | 'remotePorts'> = {};
  if (p.flow !== undefined) {
    const checked = checkFlow(p.flow, `${at}.flow`, issues, true);
    flow = checked;
    if (checked !== undefined) {
      flow = checked;
      // One SPD entry per side of a client/server flow (RFC 4301 §4.4.1.1 ports are per
      // side): the client's entry matches the service as its remote port, the server's as
      // its local one. Replies come back on the same SA pair (inbound SAs carry the same
      // selector, matched with the packet's destination as `local`).
      const range = checked.port === null ? undefined : { start: checked.port, end: checked.port };
      if (range !== undefined) ports = p.flow.server === 'local' ? { localPorts: range } : { remotePorts: range };
    }
  }

  const item = { index: i, name: p.name, peer: p.peer, flow, flowWritten: p.flow !== undefined };
  const valid = issues.length === before && parsed.complete;
  if (!valid || local === undefined || remote === undefined || flow === undefined || p.name === undefined || p.peer === undefined || address === undefined) {
    return { ...item, entry: undefined };
  }
  const selector: TrafficSelector = { local, remote, ...(flow !== null ? { protocol: flow.protocol } : {}), ...ports };
  const entry: AgentSpdEntry = {
    id: p.name,
    priority: p.priority ?? (i + 1) * AGENT_PRIORITY_STEP,
    selector,
    localAddress: address,
    requestPeer: p.peer,
    flow,
  };
  return { ...item, entry };
}

function joinList(list: readonly ParsedRange[], at: string, issues: IssueList): AddressRange | undefined {
  const families = new Set(list.map((r) => r.family));
  if (families.size > 1) {
    const k = list.findIndex((r) => r.family !== list[0]?.family);
    issues.add(`${at}[${k}]`, 'mixes IPv4 and IPv6 in one list; an entry covers one family');
    return undefined;
  }
  const j = joinRanges(list.map((r) => r.range));
  if ('gapAt' in j) {
    issues.add(
      `${at}[${j.gapAt}]`,
      `${formatRange(list[j.gapAt]!.range)} does not join the other prefixes into one range; an entry holds one range per side ` +
        '(the controller pairs SAs by peer and flow): use a covering prefix, or another entry with its own flow',
    );
    return undefined;
  }
  return j.range;
}

function flowText(flow: FlowSelector | null): string {
  if (flow === null) return 'no flow';
  return flow.port === null ? `flow protocol ${flow.protocol}` : `flow ${flow.protocol}/${flow.port}`;
}

// Rules between entries: one entry per (peer, flow), and no packet that two entries
// towards different peers could both claim.
function checkAcrossEntries(items: readonly Item[], issues: IssueList): void {
  const byKey = new Map<string, Item>();
  for (const it of items) {
    const { peer: requestPeer, flow } = it;
    if (requestPeer === undefined || flow === undefined) continue; // reported at the field
    const key = `${requestPeer}|${flow === null ? '' : `${flow.protocol}/${flow.port ?? '*'}`}`;
    const first = byKey.get(key);
    if (first === undefined) {
      byKey.set(key, it);
      continue;
    }
    issues.add(
      `protect[${it.index}].${it.flowWritten ? 'flow' : 'peer'}`,
      `same peer ${requestPeer} and ${flowText(flow)} as protect[${first.index}]${first.name === undefined ? '' : ` (${echo(first.name)})`}: the controller pairs SAs by peer and flow, ` +
        'so each entry towards one peer needs its own flow (or join them into one entry)',
    );
  }
  const valid = items.filter((it): it is Item & { entry: AgentSpdEntry } => it.entry !== undefined);
  valid.forEach((b, j) => {
    for (const a of valid.slice(0, j)) {
      if (a.entry.requestPeer === b.entry.requestPeer || !selectorsOverlap(a.entry.selector, b.entry.selector)) continue;
      issues.add(
        `protect[${b.index}].remote`,
        `overlaps protect[${a.index}] (${echo(a.entry.id)}), which asks peer ${a.entry.requestPeer}: a packet in the overlap would only ever ` +
          'go to the entry checked first; make the selectors disjoint',
      );
      break;
    }
  });
}
