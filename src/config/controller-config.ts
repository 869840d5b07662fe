// The controller's config file (`keyplane controller run --config FILE`,
// docs/configuration.md "Controller configuration"): its store and master key, where it
// listens (control channel, admin API), key rotation, the seed-000 activation timers, and
// distribution policies to seed into the store at start (seed 000 "distribution policy
// store": address pair -> ESP, mode, algorithms, SA lifetime; '*' is the wildcard).
//
// Every problem is reported at once as a ConfigError whose issues carry the field path
// (e.g. `policies[2].esp`); messages go through echo() and never show key material.

import { z } from 'zod';
import { DEFAULT_CONTROL_PORT, type ControlEndpoint } from '../io/control-udp.js';
import { checkNewPolicy, MAX_LIFETIME_SECONDS, POLICY_NAME_PATTERN, POLICY_NAME_RULE, policyKey } from '../store/settings-codec.js';
import { StoreError, type NewPolicy } from '../store/types.js';
import type { AppliedPolicy, FlowSelector } from '../wire/control-settings.js';
import { addressFamily, canonicalAddress } from './address.js';
import { configError, parseConfigText, readConfigFile, resolveConfigPath } from './config-text.js';
import { listenEndpoint, parseListen } from './endpoint.js';
import { ConfigError, IssueList, echo } from './errors.js';
import { isPlainObject, parseFields } from './fields.js';
import { intField, pathField, requiredOr, secondsField } from './zod-fields.js';
import { checkFlow, controllerFlowSchema } from './flow.js';
import { parseEspProposal } from './esp-proposal.js';

export const DEFAULT_CONTROLLER_STORE_FILE = '/var/lib/keyplane/controller.db';
export const DEFAULT_CONTROLLER_MASTER_KEY_FILE = '/var/lib/keyplane/master.key';
export const DEFAULT_CONTROLLER_LISTEN: ControlEndpoint = { address: '0.0.0.0', port: DEFAULT_CONTROL_PORT };
export const DEFAULT_ADMIN_PORT = 4580;
export const DEFAULT_ADMIN_LISTEN: ControlEndpoint = { address: '127.0.0.1', port: DEFAULT_ADMIN_PORT };
export const DEFAULT_ADMIN_TOKEN_FILE = '/var/lib/keyplane/admin.token';
export const DEFAULT_POLICY_LIFETIME_SECONDS = 3600; // seed 000: 3600 s in every example
// Agents renew at a fraction of the lifetime (settings/types.ts renewAtFraction) and a
// request cycle takes up to 6 x 5 s: much shorter lifetimes leave no time to renew.
export const MIN_POLICY_LIFETIME_SECONDS = 10;
const MAX_ROTATION_SECONDS = 365 * 86400;

export interface ControllerTuning {
  readonly activationIntervalMs?: number; // seed 000 S23: 5000
  readonly activationMaxSends?: number; // seed 000 S24: 6
}

export interface ControllerConfig {
  readonly file: string;
  readonly store: string;
  readonly masterKey: string;
  readonly listen: ControlEndpoint; // control channel (UDP)
  readonly admin: { readonly listen: ControlEndpoint | null; readonly tokenFile: string }; // listen null: admin API off
  // Control-channel key rotation; 0 = only when an agent asks; null = the controller's default.
  readonly rotationSeconds: number | null;
  readonly tuning: ControllerTuning; // only what the file sets
  readonly policies: readonly NewPolicy[]; // to add to the store at start when their name is new
}

export interface ControllerConfigOptions {
  readonly file: string; // name used in messages and as the base for relative paths
}

// ------------------------------------------------------------------------------ shape

const adminSchema = z
  .strictObject({
    listen: z
      .string({ error: `expected "address:port" as a string (e.g. "127.0.0.1:${DEFAULT_ADMIN_PORT}"), or "off"` })
      .transform((text, ctx): ControlEndpoint | null => {
        if (text.trim() === 'off') return null;
        const e = parseListen(text, DEFAULT_ADMIN_PORT);
        if (typeof e === 'string') {
          ctx.addIssue({ code: 'custom', message: `${e}; or "off"` });
          return z.NEVER;
        }
        return e;
      })
      .default(DEFAULT_ADMIN_LISTEN),
    tokenFile: pathField('the admin API token file').default(DEFAULT_ADMIN_TOKEN_FILE),
  })
  .prefault({});

const settingsSchema = z
  .strictObject({
    activationIntervalSeconds: secondsField(0.1, 300).optional(),
    activationMaxSends: intField(1, 100).optional(),
  })
  .prefault({});

const topShape = {
  store: pathField('the store (SQLite)').default(DEFAULT_CONTROLLER_STORE_FILE),
  masterKey: pathField('the master key file').default(DEFAULT_CONTROLLER_MASTER_KEY_FILE),
  listen: listenEndpoint(DEFAULT_CONTROL_PORT).default(DEFAULT_CONTROLLER_LISTEN),
  admin: adminSchema,
  rotationSeconds: secondsField(0, MAX_ROTATION_SECONDS).optional(),
  settings: settingsSchema,
  policies: z.array(z.unknown(), { error: 'expected a list of distribution policies' }).default([]),
};

const WILDCARD = '*';

// A device's IPsec address, or '*' ("all others"; also written "any", since an unquoted
// * starts a YAML alias).
const endpointField = z.string({ error: requiredOr(`an IP address or "${WILDCARD}"`) }).transform((s, ctx) => {
  const t = s.trim();
  if (t === WILDCARD || t === 'any') return WILDCARD;
  const c = canonicalAddress(t);
  if (c === undefined || c === '0.0.0.0' || c === '::') {
    ctx.addIssue({
      code: 'custom',
      message: c === undefined ? `expected an IP address or "${WILDCARD}" (quoted) for any device, got ${echo(s)}` : `the unspecified address ${c} names no device; use "${WILDCARD}" for any`,
    });
    return z.NEVER;
  }
  return c;
});

const policyShape = {
  name: z.string({ error: requiredOr('a policy name') }).regex(POLICY_NAME_PATTERN, { error: `expected a name of ${POLICY_NAME_RULE}` }),
  a: endpointField,
  b: endpointField,
  esp: z
    .string({ error: requiredOr('an ESP proposal keyword such as aes256gcm16 or aes128-sha256') })
    .transform((s, ctx) => {
      const r = parseEspProposal(s);
      if (typeof r === 'string') {
        ctx.addIssue({ code: 'custom', message: r });
        return z.NEVER;
      }
      return r;
    }),
  mode: z.enum(['tunnel', 'transport'], { error: 'expected "tunnel" or "transport"' }).default('tunnel'),
  lifetimeSeconds: intField(MIN_POLICY_LIFETIME_SECONDS, MAX_LIFETIME_SECONDS).default(DEFAULT_POLICY_LIFETIME_SECONDS),
  esn: z.boolean({ error: 'expected true or false' }).default(false),
  flow: controllerFlowSchema.optional(),
};

// ------------------------------------------------------------------------------ loading

export function loadControllerConfig(path: string): ControllerConfig {
  return parseControllerConfig(readConfigFile(path), { file: path });
}

export function parseControllerConfig(text: string, options: ControllerConfigOptions): ControllerConfig {
  const file = options.file;
  const issues = new IssueList();
  const top = parseFields(topShape, parseConfigText(text, file, 'the controller settings (store, listen, policies, ...)'), [], issues, 'the controller settings');
  const f = top?.fields ?? {};
  const raw = f.policies ?? [];
  const writtenNames = raw.map((p) => (isPlainObject(p) && typeof p['name'] === 'string' ? p['name'] : undefined));
  const keys = new Map<string, number>();
  const policies: NewPolicy[] = [];
  raw.forEach((value, i) => {
    const p = checkPolicy(value, i, writtenNames, keys, issues);
    if (p !== undefined) policies.push(p);
  });

  if (issues.length > 0 || top === undefined || !top.complete) throw configError(file, issues.all);
  const { store, masterKey, listen, admin, settings } = f;
  if (store === undefined || masterKey === undefined || listen === undefined || admin === undefined || settings === undefined) {
    throw new ConfigError(file, [{ path: '', message: 'incomplete' }]); // unreachable: a missing field is an issue above
  }
  return {
    file,
    store: resolveConfigPath(file, store),
    masterKey: resolveConfigPath(file, masterKey),
    listen,
    admin: { listen: admin.listen, tokenFile: resolveConfigPath(file, admin.tokenFile) },
    rotationSeconds: f.rotationSeconds ?? null,
    tuning: {
      ...(settings.activationIntervalSeconds !== undefined ? { activationIntervalMs: Math.round(settings.activationIntervalSeconds * 1000) } : {}),
      ...(settings.activationMaxSends !== undefined ? { activationMaxSends: settings.activationMaxSends } : {}),
    },
    policies,
  };
}

function checkPolicy(
  value: unknown,
  i: number,
  writtenNames: readonly (string | undefined)[],
  keys: Map<string, number>,
  issues: IssueList,
): NewPolicy | undefined {
  const at = `policies[${i}]`;
  const parsed = parseFields(policyShape, value, ['policies', i], issues, 'a policy (name, a, b, esp, ...)');
  if (parsed === undefined) return undefined;
  const before = issues.length;
  const p = parsed.fields;

  const name = writtenNames[i];
  const first = name === undefined ? -1 : writtenNames.indexOf(name);
  if (first >= 0 && first !== i) issues.add(`${at}.name`, `duplicate policy name ${echo(name ?? '')} (first at policies[${first}])`);

  if (p.a !== undefined && p.b !== undefined && p.a !== WILDCARD && p.b !== WILDCARD) {
    if (p.a === p.b) issues.add(`${at}.b`, `same address as a (${p.a}); a policy is for a pair of devices`);
    else if (addressFamily(p.a) !== addressFamily(p.b)) {
      issues.add(`${at}.b`, `IPv${addressFamily(p.b)} but a is IPv${addressFamily(p.a)}; a device pair talks over one family`);
    }
  }

  let flow: FlowSelector | null = null;
  let flowOk = !parsed.failed.has('flow');
  if (p.flow !== undefined) {
    const checked = checkFlow(p.flow, `${at}.flow`, issues, false);
    if (checked !== undefined) flow = checked;
    else flowOk = false;
  }

  // Endpoints are unordered (seed 000: a policy for (A, B) answers B's request for A too):
  // the store refuses a second policy for the same pair and flow. Checked even when other
  // fields of this policy are wrong, so the duplicate is reported in the same run.
  if (p.a !== undefined && p.b !== undefined && flowOk) {
    const k = policyKey({ a: p.a, b: p.b, flow });
    const key = `${k.low} ${k.high} ${k.flow}`;
    const same = keys.get(key);
    if (same !== undefined) {
      issues.add(
        `${at}.${p.flow !== undefined ? 'flow' : 'b'}`,
        `policies[${same}] already covers ${p.a} <-> ${p.b} ${flow === null ? 'with no flow' : 'with this flow'}; one policy per pair and flow`,
      );
    } else keys.set(key, i);
  }

  if (issues.length > before || !parsed.complete) return undefined;
  if (p.name === undefined || p.a === undefined || p.b === undefined || p.esp === undefined || p.mode === undefined) return undefined;
  if (p.lifetimeSeconds === undefined || p.esn === undefined) return undefined;

  const applied: AppliedPolicy = {
    protocol: 'esp',
    mode: p.mode,
    encryption: p.esp.encryption,
    integrity: p.esp.integrity,
    esn: p.esn,
    lifetimeSeconds: p.lifetimeSeconds,
  };
  const policy: NewPolicy = { name: p.name, a: p.a, b: p.b, flow, applied };
  try {
    // The store's own check, so that what the config accepts the store accepts too.
    return checkNewPolicy(policy);
  } catch (e) {
    if (!(e instanceof StoreError)) throw e;
    issues.add(at, e.message);
    return undefined;
  }
}
