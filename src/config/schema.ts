// Shape of the manual-keying config file (docs/configuration.md), checked with zod.
// This pass checks each field on its own (types, ranges, notations); cross-field rules
// (algorithms and key lengths, policy references, families) live in manual-keying.ts.
// Objects are strict so that a misspelt field is reported instead of silently ignored.
// Top-level objects are given as shapes: fields.ts checks them field by field.

import { echo } from './errors.js';
import { z } from 'zod';
import { canonicalAddress, parseAddressSpec, parsePortSpec } from './address.js';
import { parseProtocol, parseSpi } from './values.js';
import { DEFAULT_REPLAY_WINDOW, MAX_REPLAY_WINDOW, MIN_REPLAY_WINDOW, isValidReplayWindowSize } from '../ipsec/replay.js';

// Runs a notation parser inside zod so its error lands on the field's own path. The
// parser returns its value, or a string: the error message.
function parsed<I, O>(base: z.ZodType<I>, parse: (value: I) => O | string) {
  return base.transform((value, ctx) => {
    const r = parse(value);
    if (typeof r === 'string') {
      ctx.addIssue({ code: 'custom', message: r });
      return z.NEVER;
    }
    return r;
  });
}

const numberOrString = (what: string) => z.union([z.number(), z.string()], { error: `expected ${what}` });

// (Not through `parsed`: its value is itself a string.)
export const address = z.string({ error: 'expected an IPv4 or IPv6 address as a string' }).transform((s, ctx) => {
  const c = canonicalAddress(s.trim());
  if (c === undefined) {
    ctx.addIssue({ code: 'custom', message: `expected an IPv4 or IPv6 address, got ${echo(s)}` });
    return z.NEVER;
  }
  return c;
});

const addressSpec = parsed(z.string({ error: 'expected an address, prefix, range or "any" as a string' }), parseAddressSpec);
const portSpec = parsed(numberOrString('a port number, a range like "1000-2000", or "any"'), (v) => parsePortSpec(v));
const icmpValue = parsed(numberOrString('an ICMP type/code 0-255 or "any"'), (v) => parsePortSpec(v, 255));
const protocol = parsed(numberOrString('"any", a protocol name (tcp, udp, icmp, ...) or a number 0-255'), parseProtocol);
const spi = parsed(numberOrString('an SPI: a number, or a "0x..." hex string'), parseSpi);
const port = z.number().int().min(1).max(65535);

// Linux IFNAMSIZ is 16 including the terminating NUL.
const interfaceName = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,15}$/, { error: 'expected an interface name of 1-15 letters, digits, "_", "." or "-"' });

export const DEFAULT_CONTROL_SOCKET = '/run/keyplane/dataplane.sock';
export const DEFAULT_TUN_NAME = 'keyplane0';
export const DEFAULT_MTU = 1400;
export const DEFAULT_PORT = 4500; // RFC 3948 §2: UDP-encapsulated ESP uses port 4500
export const DEFAULT_NAT_KEEPALIVE_SECONDS = 20; // RFC 3948 §4: default interval 20 s
export const DEFAULT_POLICY_PRIORITY = 1000;

export const dataplaneShape = {
  backend: z.literal('userspace', { error: 'expected "userspace" (the only data-plane backend a config file can start)' }).default('userspace'),
  tunName: interfaceName.default(DEFAULT_TUN_NAME),
  // IPv6 needs at least 1280 (RFC 8200 §5); 576 is the IPv4 minimum datagram size.
  mtu: z.number().int().min(576).max(65535).default(DEFAULT_MTU),
  localAddress: address,
  port: port.default(DEFAULT_PORT),
  natKeepaliveSeconds: z.number().int().min(0).max(3600).default(DEFAULT_NAT_KEEPALIVE_SECONDS),
  controlSocket: z.string().min(1).max(107).default(DEFAULT_CONTROL_SOCKET), // sun_path is 108 bytes
  // Performance switches of the userspace backend (docs/configuration.md): the native
  // batched UDP path with GSO/GRO, and TUN offload (IFF_VNET_HDR). 'dgram' is Node's own
  // socket, slower but with no native code in the UDP path.
  udpBackend: z.enum(['native', 'dgram'], { error: 'expected "native" or "dgram"' }).default('native'),
  udpOffload: z.boolean({ error: 'expected true or false' }).default(true),
  tunOffload: z.boolean({ error: 'expected true or false' }).default(true),
};

export const policyNameSchema = z
  .string({ error: 'expected a policy name' })
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/, { error: 'expected a name of 1-64 letters, digits, "_", ".", ":" or "-", starting with a letter or digit' });

export const policyShape = {
  name: policyNameSchema,
  priority: z.number().int().min(0).max(2 ** 31 - 1).default(DEFAULT_POLICY_PRIORITY),
  action: z.enum(['protect', 'bypass', 'discard']),
  local: addressSpec.default({ range: undefined, family: undefined }),
  remote: addressSpec.default({ range: undefined, family: undefined }),
  protocol: protocol.optional(),
  localPorts: portSpec.optional(),
  remotePorts: portSpec.optional(),
  icmpType: icmpValue.optional(),
  icmpCode: icmpValue.optional(),
  mode: z.enum(['tunnel', 'transport']).optional(),
  localTunnel: address.optional(),
  remoteTunnel: address.optional(),
  remotePort: port.optional(),
};

const keySource = z.strictObject({
  algorithm: z.string({ error: 'expected an algorithm name such as aes128gcm16, aes256 or sha256' }).min(1),
  // Never echo the value: the message for a key field says only what was expected.
  key: z
    .string({ error: 'expected the key as a quoted hex string (unquoted 0x... is read by YAML as a number)' })
    .optional(),
  keyFile: z.string().min(1).optional(),
});

const limits = z.strictObject({
  seconds: z.number().int().positive().optional(),
  bytes: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
  packets: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
});

export const saShape = {
  name: z.string().min(1).max(64).optional(),
  policy: policyNameSchema,
  direction: z.enum(['in', 'out']),
  spi,
  encryption: keySource,
  integrity: keySource.optional(),
  esn: z.boolean().default(false),
  replayWindow: z
    .number()
    .refine(isValidReplayWindowSize, {
      error: `expected 0 (anti-replay off) or ${MIN_REPLAY_WINDOW}-${MAX_REPLAY_WINDOW} packets (RFC 4303 §3.4.3)`,
    })
    .default(DEFAULT_REPLAY_WINDOW),
  lifetime: z.strictObject({ soft: limits.default({}), hard: limits.default({}) }).default({ soft: {}, hard: {} }),
  allowTestOnlyAlgorithms: z.boolean().default(false),
};

export const topShape = {
  version: z.literal(1, { error: 'expected version: 1' }).default(1),
  dataplane: z.unknown(),
  policies: z.array(z.unknown(), { error: 'expected a list of policies' }).default([]),
  sas: z.array(z.unknown(), { error: 'expected a list of SAs' }).default([]),
};

export type RawDataplane = z.output<z.ZodObject<typeof dataplaneShape>>;
export type RawPolicy = z.output<z.ZodObject<typeof policyShape>>;
export type RawSa = z.output<z.ZodObject<typeof saShape>>;
export type RawKeySource = z.output<typeof keySource>;
