// Request bodies and query strings of the admin API (docs/admin-api.md), checked with
// zod. Objects are strict, so a misspelt field is an error that names it instead of
// being ignored; every issue carries the field path.
import { z } from 'zod';
import { formatPath } from '../config/errors.js';
import { parseProtocol, protocolHasPorts } from '../config/values.js';
import { DEVICE_NAME_PATTERN, DEVICE_NAME_RULE } from '../store/device-name.js';
import { canonicalControllerAddress } from '../store/enrollment-token.js';
import { MAX_DEVICE_ADDRESSES, MAX_LIFETIME_SECONDS, POLICY_NAME_PATTERN, POLICY_NAME_RULE, WILDCARD, canonicalDeviceAddress } from '../store/settings-codec.js';
import { StoreError } from '../store/types.js';
import { parseEspProposal } from '../config/esp-proposal.js';

export const DEFAULT_ESP_PROPOSAL = 'aes256gcm16';
export const DEFAULT_LIFETIME_SECONDS = 3600; // seed 000: every example uses 3600 s
export const MAX_EVENTS_PER_REQUEST = 1000;

export interface FieldIssue {
  readonly field: string; // e.g. "flow.port", "addresses[2]"; "" for the whole body
  readonly message: string;
}

export function issuesOf(error: z.ZodError): FieldIssue[] {
  return error.issues.map((iss) => {
    const field = formatPath(iss.path);
    if (iss.code === 'unrecognized_keys') {
      const list = iss.keys.map((k) => `"${k}"`).join(', ');
      return { field: iss.keys.length === 1 ? formatPath([...iss.path, iss.keys[0]!]) : field, message: `unknown field${iss.keys.length > 1 ? 's' : ''} ${list}` };
    }
    return { field, message: iss.message };
  });
}

const show = (s: string): string => JSON.stringify(s.length > 60 ? `${s.slice(0, 60)}...` : s);

// A device address (an IP address, canonical in the result).
const deviceAddress = z.string({ error: 'expected an IPv4 or IPv6 address as a string' }).transform((s, ctx) => {
  try {
    return canonicalDeviceAddress(s);
  } catch (e) {
    if (!(e instanceof StoreError)) throw e;
    ctx.addIssue({ code: 'custom', message: `expected an IPv4 or IPv6 address (not the unspecified address), got ${show(s)}` });
    return z.NEVER;
  }
});

const endpoint = z.string({ error: `expected an IP address or "${WILDCARD}" as a string` }).transform((s, ctx) => {
  if (s.trim() === WILDCARD) return WILDCARD;
  try {
    return canonicalDeviceAddress(s);
  } catch (e) {
    if (!(e instanceof StoreError)) throw e;
    ctx.addIssue({ code: 'custom', message: `expected an IP address or "${WILDCARD}" (any device), got ${show(s)}` });
    return z.NEVER;
  }
});

const protocol = z.union([z.number(), z.string()], { error: 'expected a protocol name (tcp, udp, ...) or number 0-255' }).transform((v, ctx) => {
  const r = parseProtocol(v);
  if (typeof r === 'number') return r;
  ctx.addIssue({ code: 'custom', message: r === undefined ? 'a flow selector needs one protocol, not "any" (leave out "flow" for all traffic)' : r });
  return z.NEVER;
});

const flow = z
  .strictObject({
    protocol,
    port: z.number({ error: 'expected a port number 1-65535 or null' }).int().min(1).max(65535).nullable().default(null),
  })
  .superRefine((f, ctx) => {
    if (f.port !== null && !protocolHasPorts(f.protocol)) ctx.addIssue({ code: 'custom', path: ['port'], message: `protocol ${f.protocol} has no ports (RFC 4301 §4.4.1.1); leave out "port"` });
  });

const esp = z.string({ error: 'expected an ESP proposal such as "aes256gcm16", "aes128-sha256" or "chacha20poly1305"' }).transform((s, ctx) => {
  const r = parseEspProposal(s);
  if (typeof r === 'string') {
    ctx.addIssue({ code: 'custom', message: r });
    return z.NEVER;
  }
  return r;
});

export const policyBody = z
  .strictObject({
    name: z.string({ error: `expected a name: ${POLICY_NAME_RULE}` }).regex(POLICY_NAME_PATTERN, { error: `expected a name: ${POLICY_NAME_RULE}` }),
    a: endpoint,
    b: endpoint,
    flow: flow.nullable().default(null),
    esp: esp.prefault(DEFAULT_ESP_PROPOSAL), // prefault: the default goes through the parser too
    mode: z.enum(['tunnel', 'transport'], { error: 'expected "tunnel" or "transport"' }).default('tunnel'),
    lifetimeSeconds: z
      .number({ error: 'expected a number of seconds' })
      .int({ error: 'expected a whole number of seconds' })
      .min(1, { error: 'expected at least 1 second' })
      .max(MAX_LIFETIME_SECONDS, { error: `expected at most ${MAX_LIFETIME_SECONDS} seconds` })
      .default(DEFAULT_LIFETIME_SECONDS),
    esn: z.boolean({ error: 'expected true or false' }).default(false),
  })
  .superRefine((p, ctx) => {
    if (p.a !== WILDCARD && p.a === p.b) ctx.addIssue({ code: 'custom', path: ['b'], message: `expected an address other than a (${p.a}): a policy is between two devices` });
  });

const addresses = z.array(deviceAddress, { error: 'expected a list of IP addresses' }).max(MAX_DEVICE_ADDRESSES, { error: `expected at most ${MAX_DEVICE_ADDRESSES} addresses` });

export const deviceBody = z.strictObject({
  name: z.string({ error: `expected a device name: ${DEVICE_NAME_RULE}` }).regex(DEVICE_NAME_PATTERN, { error: `expected a device name: ${DEVICE_NAME_RULE}` }),
  variant: z.enum(['explicit', 'spi'], { error: 'expected "explicit" or "spi"' }).default('explicit'),
  forwardSecrecy: z.boolean({ error: 'expected true or false' }).default(true),
  addresses: addresses.default([]),
  // Where agents reach the controller's control channel (goes into the enrollment token).
  controllerAddress: z
    .string({ error: 'expected an IP address or DNS name' })
    .transform((s, ctx) => {
      const c = canonicalControllerAddress(s);
      if (c === undefined) {
        ctx.addIssue({ code: 'custom', message: `expected an IP address or DNS name, got ${show(s)}` });
        return z.NEVER;
      }
      return c;
    })
    .optional(),
  controllerPort: z.number({ error: 'expected a port number 1-65535' }).int().min(1).max(65535).optional(),
});

export const addressesBody = z.strictObject({ addresses });

const count = (min: number, max: number) =>
  z
    .string()
    .regex(/^[0-9]{1,15}$/, { error: `expected an integer ${min}..${max}` })
    .transform(Number)
    .refine((n) => n >= min && n <= max, { error: `expected an integer ${min}..${max}` });

export const eventsQuery = z
  .strictObject({
    after: count(0, Number.MAX_SAFE_INTEGER).optional(),
    limit: count(1, MAX_EVENTS_PER_REQUEST).optional(),
    tail: count(1, MAX_EVENTS_PER_REQUEST).optional(),
  })
  .superRefine((q, ctx) => {
    if (q.tail !== undefined && (q.after !== undefined || q.limit !== undefined)) {
      ctx.addIssue({ code: 'custom', path: ['tail'], message: 'expected either "tail" or "after"/"limit", not both' });
    }
  });

export type PolicyBody = z.output<typeof policyBody>;
export type DeviceBody = z.output<typeof deviceBody>;
