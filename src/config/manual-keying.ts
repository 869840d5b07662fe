// Manual keying: static SAs and policies from a config file, "like `ip xfrm state`, but
// for keyplane" (docs/configuration.md). The file is YAML (JSON is valid YAML too). The
// loader reports every problem at once as a ConfigError (code "config.invalid") whose
// message names the file, the field path and what was expected, and never key material.

import { readFileSync, statSync } from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import { ENCR } from '../crypto/types.js';
import type { Policy, SaConfig, TrafficSelector } from '../ipsec/types.js';
import { addressFamily } from './address.js';
import { knownEncryptionNames, knownIntegrityNames, lookupEncryption, lookupIntegrity } from './algorithms.js';
import { ConfigError, IssueList, echo } from './errors.js';
import { isPlainObject, parseFields, type Fields } from './fields.js';
import { describeMode, readKeyFile, resolveKeyFile } from './key-file.js';
import { DEFAULT_PORT, dataplaneShape, policyShape, saShape, topShape, type RawDataplane, type RawKeySource } from './schema.js';
import { isIcmp, parseHexKey, protocolHasPorts } from './values.js';

export type DataplaneSettings = RawDataplane;

// One SA with the names an operator wrote, for logs and status output (no keys).
export interface ManualSa {
  readonly name: string | undefined;
  readonly policy: string;
  readonly encryption: string; // algorithm name as configured, lower case
  readonly integrity: string | undefined;
  readonly config: SaConfig;
}

export interface ManualKeyingConfig {
  readonly file: string;
  readonly dataplane: DataplaneSettings;
  readonly policies: readonly Policy[];
  readonly sas: readonly ManualSa[];
  readonly warnings: readonly string[]; // legal but probably unintended, e.g. a policy with no SA
}

export interface ParseOptions {
  // Name used in messages and as the base for relative keyFile paths.
  readonly file: string;
  // Permission bits of the config file; when group/others may read it, inline keys are refused.
  readonly fileMode?: number;
}

export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

export function loadManualKeyingConfig(path: string): ManualKeyingConfig {
  let text: string;
  let mode: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new ConfigError(path, [{ path: '', message: 'not a regular file' }]);
    if (st.size > MAX_CONFIG_BYTES) throw new ConfigError(path, [{ path: '', message: 'larger than 4 MiB; not a keyplane config' }]);
    mode = st.mode;
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(path, [{ path: '', message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}` }]);
  }
  return parseManualKeyingConfig(text, { file: path, fileMode: mode });
}

type PolicyFields = Fields<typeof policyShape>;
type SaFields = Fields<typeof saShape>;

interface Context {
  readonly file: string;
  readonly fileMode: number | undefined;
  readonly inlineKeysAllowed: boolean;
  readonly issues: IssueList;
}

export function parseManualKeyingConfig(text: string, options: ParseOptions): ManualKeyingConfig {
  const file = options.file;
  const issues = new IssueList();
  const ctx: Context = {
    file,
    fileMode: options.fileMode,
    inlineKeysAllowed: options.fileMode === undefined || (options.fileMode & 0o077) === 0,
    issues,
  };
  const top = parseFields(topShape, parseYaml(text, file), [], issues, 'the keys dataplane, policies and sas');
  const dpParsed = parseFields(dataplaneShape, top?.fields.dataplane, ['dataplane'], issues, 'the data plane settings');
  const dp = dpParsed?.complete ? (dpParsed.fields as RawDataplane) : undefined;
  const rawPolicies = top?.fields.policies ?? [];
  const rawSas = top?.fields.sas ?? [];

  // Names as written, even in entries with other problems, so that references to them
  // are not reported as missing and duplicates are found.
  const writtenNames = rawPolicies.map((p) => (isPlainObject(p) && typeof p['name'] === 'string' ? p['name'] : undefined));
  const policies = new Map<string, { fields: PolicyFields; policy: Policy | undefined }>();
  rawPolicies.forEach((value, i) => {
    const at = `policies[${i}]`;
    const parsed = parseFields(policyShape, value, ['policies', i], issues, 'a policy');
    if (parsed === undefined) return;
    const name = writtenNames[i];
    const first = name === undefined ? -1 : writtenNames.indexOf(name);
    if (first !== i && first >= 0) issues.add(`${at}.name`, `duplicate policy name ${echo(name ?? '')} (first at policies[${first}])`);
    const policy = buildPolicy(parsed.fields, parsed.failed, dpParsed?.fields.localAddress, at, issues);
    if (parsed.fields.name !== undefined && !policies.has(parsed.fields.name)) {
      policies.set(parsed.fields.name, { fields: parsed.fields, policy: parsed.complete ? policy : undefined });
    }
  });

  const seen = new Map<string, number>();
  const sas: ManualSa[] = [];
  rawSas.forEach((value, i) => {
    const at = `sas[${i}]`;
    const parsed = parseFields(saShape, value, ['sas', i], issues, 'an SA');
    if (parsed === undefined) return;
    const f = parsed.fields;
    const ref = f.policy === undefined ? undefined : policies.get(f.policy);
    if (f.policy !== undefined && ref === undefined && !writtenNames.includes(f.policy)) {
      const defined = [...new Set(writtenNames.filter((n) => n !== undefined))];
      issues.add(`${at}.policy`, `no policy named ${echo(f.policy)}; defined: ${defined.length > 0 ? defined.map(echo).join(', ') : 'none'}`);
    } else if (ref?.fields.action !== undefined && ref.fields.action !== 'protect') {
      issues.add(`${at}.policy`, `policy ${echo(f.policy ?? '')} has action ${ref.fields.action}; SAs belong to "protect" policies`);
    }
    if (f.direction !== undefined && f.spi !== undefined) {
      const key = `${f.direction}/${f.spi}`;
      const firstAt = seen.get(key);
      if (firstAt !== undefined) issues.add(`${at}.spi`, `duplicate SA: sas[${firstAt}] is also ${f.direction}bound with SPI 0x${f.spi.toString(16)}`);
      else seen.set(key, i);
    }
    const sa = buildSa(f, ref?.policy, ref?.fields.remotePort ?? DEFAULT_PORT, dp, at, ctx);
    if (sa !== undefined && parsed.complete) sas.push(sa);
  });

  if (issues.length > 0 || dp === undefined) throw new ConfigError(file, issues.all);
  const policyList = [...policies.values()].map((p) => p.policy).filter((p): p is Policy => p !== undefined);
  return { file, dataplane: dp, policies: policyList, sas, warnings: warningsFor(policyList, sas) };
}

function parseYaml(text: string, file: string): unknown {
  try {
    // uniqueKeys: a repeated key is an error, not a silent override. prettyErrors off:
    // those quote the offending line, which may hold a key; we name the line number only.
    const lines = new LineCounter();
    const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false, strict: true, lineCounter: lines });
    if (doc.errors.length > 0) {
      throw new ConfigError(
        file,
        doc.errors.map((e) => ({ path: `line ${lines.linePos(e.pos[0]).line}`, message: `not valid YAML: ${firstLine(e.message)}` })),
      );
    }
    // maxAliasCount bounds alias expansion ("billion laughs").
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (!isPlainObject(value)) {
      throw new ConfigError(file, [{ path: '', message: 'expected a mapping with the keys dataplane, policies and sas' }]);
    }
    return value;
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(file, [{ path: '', message: `not valid YAML: ${firstLine(e instanceof Error ? e.message : String(e))}` }]);
  }
}

function firstLine(s: string): string {
  return s.split('\n')[0] ?? s;
}

function buildPolicy(
  f: PolicyFields,
  failed: ReadonlySet<string>,
  dpLocal: string | undefined,
  at: string,
  issues: IssueList,
): Policy | undefined {
  const before = issues.length;
  if (f.local?.family !== undefined && f.remote?.family !== undefined && f.local.family !== f.remote.family) {
    issues.add(`${at}.remote`, `IPv${f.remote.family} but local is IPv${f.local.family}; both selectors must be the same family`);
  }
  const proto = f.protocol;
  const protoText = proto === undefined ? 'any' : String(proto);
  for (const k of ['localPorts', 'remotePorts'] as const) {
    // A protocol that failed its own check is reported there; don't pile on.
    if (f[k] !== undefined && !failed.has('protocol') && (proto === undefined || !protocolHasPorts(proto))) {
      issues.add(`${at}.${k}`, `ports need protocol tcp, udp, sctp or udplite (protocol is ${protoText})`);
    }
  }
  for (const k of ['icmpType', 'icmpCode'] as const) {
    if (f[k] !== undefined && !failed.has('protocol') && (proto === undefined || !isIcmp(proto))) {
      issues.add(`${at}.${k}`, `${k} needs protocol icmp or icmpv6 (protocol is ${protoText})`);
    }
  }
  let protect: Policy['protect'];
  if (f.action === 'protect') {
    if (f.remoteTunnel === undefined) {
      issues.add(`${at}.remoteTunnel`, "required for action protect: the peer's outer address");
    } else {
      const local = f.localTunnel ?? dpLocal;
      if (local !== undefined && addressFamily(local) !== addressFamily(f.remoteTunnel)) {
        issues.add(
          `${at}.remoteTunnel`,
          `IPv${addressFamily(f.remoteTunnel)} but the local outer address ${local} is IPv${addressFamily(local)}; both ends of the tunnel must be the same family`,
        );
      }
      protect = { mode: f.mode ?? 'tunnel', remoteTunnel: f.remoteTunnel, ...(local !== undefined ? { localTunnel: local } : {}) };
    }
  } else if (f.action !== undefined) {
    for (const k of ['mode', 'localTunnel', 'remoteTunnel', 'remotePort'] as const) {
      if (f[k] !== undefined) issues.add(`${at}.${k}`, `only for action protect (this policy is ${f.action})`);
    }
  }
  if (issues.length > before || f.name === undefined || f.action === undefined || f.priority === undefined) return undefined;
  const selector: TrafficSelector = {
    ...(f.local?.range ? { local: f.local.range } : {}),
    ...(f.remote?.range ? { remote: f.remote.range } : {}),
    ...(proto !== undefined ? { protocol: proto } : {}),
    // RFC 4301 §4.4.1.1: for ICMP the type and code ride in the local/remote port fields.
    ...(f.localPorts ? { localPorts: f.localPorts } : f.icmpType ? { localPorts: f.icmpType } : {}),
    ...(f.remotePorts ? { remotePorts: f.remotePorts } : f.icmpCode ? { remotePorts: f.icmpCode } : {}),
  };
  return { id: f.name, priority: f.priority, selector, action: f.action, ...(protect ? { protect } : {}) };
}

function keyBytes(src: RawKeySource, at: string, ctx: Context): Buffer | undefined {
  const { issues } = ctx;
  if (src.key !== undefined && src.keyFile !== undefined) {
    issues.add(`${at}.key`, 'give either key or keyFile, not both');
    return undefined;
  }
  if (src.key !== undefined) {
    if (!ctx.inlineKeysAllowed) {
      issues.add(
        `${at}.key`,
        `inline key in a config file readable by group/others (mode ${describeMode(ctx.fileMode ?? 0)}); run chmod 600 ${ctx.file} or use keyFile`,
      );
      return undefined;
    }
    const k = parseHexKey(src.key);
    if (typeof k === 'string') {
      issues.add(`${at}.key`, k);
      return undefined;
    }
    return k;
  }
  if (src.keyFile !== undefined) {
    const k = readKeyFile(resolveKeyFile(ctx.file, src.keyFile));
    if (typeof k === 'string') {
      issues.add(`${at}.keyFile`, k);
      return undefined;
    }
    return k;
  }
  issues.add(`${at}.key`, 'required: the key as hex (key) or a file holding it (keyFile)');
  return undefined;
}

function keyField(src: RawKeySource): string {
  return src.keyFile !== undefined ? 'keyFile' : 'key';
}

function buildSa(
  f: SaFields,
  policy: Policy | undefined,
  peerPort: number,
  dp: RawDataplane | undefined,
  at: string,
  ctx: Context,
): ManualSa | undefined {
  const { issues } = ctx;
  const before = issues.length;

  const encName = f.encryption?.algorithm.trim().toLowerCase();
  const enc = encName === undefined ? undefined : lookupEncryption(encName);
  let encKey: Buffer | undefined;
  if (f.encryption !== undefined) {
    if (enc === undefined) {
      issues.add(
        `${at}.encryption.algorithm`,
        `unknown encryption algorithm ${echo(f.encryption.algorithm)}; expected one of ${knownEncryptionNames().join(', ')}`,
      );
    } else if (enc.testOnly && f.allowTestOnlyAlgorithms !== true) {
      issues.add(
        `${at}.encryption.algorithm`,
        `${encName} gives no confidentiality and is for tests only; set allowTestOnlyAlgorithms: true to use it`,
      );
    }
    encKey = keyBytes(f.encryption, `${at}.encryption`, ctx);
    if (enc !== undefined && encKey !== undefined && encKey.length !== enc.keyMaterialBytes) {
      issues.add(
        `${at}.encryption.${keyField(f.encryption)}`,
        `${encName} needs ${keyLengthText(enc.keyMaterialBytes, enc.keyBits, enc.id)}, got ${encKey.length} bytes`,
      );
    }
  }

  let integ: { id: number; key: Uint8Array } | undefined;
  const integName = f.integrity?.algorithm.trim().toLowerCase();
  if (enc !== undefined && enc.aead && f.integrity !== undefined) {
    issues.add(`${at}.integrity`, `${encName} is an AEAD cipher with its own integrity check; remove integrity`);
  } else if (enc !== undefined && !enc.aead && f.integrity === undefined) {
    issues.add(`${at}.integrity`, `required with ${encName}: an integrity algorithm (${knownIntegrityNames().join(', ')}) and its key`);
  } else if (f.integrity !== undefined) {
    const alg = lookupIntegrity(f.integrity.algorithm);
    if (alg === undefined) {
      issues.add(
        `${at}.integrity.algorithm`,
        `unknown integrity algorithm ${echo(f.integrity.algorithm)}; expected one of ${knownIntegrityNames().join(', ')}`,
      );
    }
    const k = keyBytes(f.integrity, `${at}.integrity`, ctx);
    if (alg !== undefined && k !== undefined) {
      if (k.length !== alg.keyBytes) {
        issues.add(
          `${at}.integrity.${keyField(f.integrity)}`,
          `${integName} needs a ${alg.keyBytes}-byte key (${alg.keyBytes * 2} hex digits), got ${k.length} bytes`,
        );
      } else integ = { id: alg.id, key: k };
    }
  }

  if (f.lifetime !== undefined) {
    for (const limit of ['seconds', 'bytes', 'packets'] as const) {
      const soft = f.lifetime.soft[limit];
      const hard = f.lifetime.hard[limit];
      if (soft !== undefined && hard !== undefined && soft > hard) {
        issues.add(`${at}.lifetime.soft.${limit}`, `soft limit ${soft} is above the hard limit ${hard}; the soft limit must come first`);
      }
    }
  }

  if (issues.length > before) return undefined;
  const protect = policy?.protect;
  if (
    policy === undefined ||
    protect === undefined ||
    dp === undefined ||
    enc === undefined ||
    encKey === undefined ||
    encName === undefined ||
    f.spi === undefined ||
    f.direction === undefined ||
    f.esn === undefined ||
    f.replayWindow === undefined ||
    f.lifetime === undefined
  ) {
    return undefined; // the reason has been reported at the field itself
  }
  const config: SaConfig = {
    spi: f.spi,
    direction: f.direction,
    mode: protect.mode,
    // Outer addresses as on the wire: ours and the peer's, for both directions.
    localAddress: protect.localTunnel ?? dp.localAddress,
    remoteAddress: protect.remoteTunnel,
    // RFC 3948: ESP in UDP from our data-plane port to the peer's (4500 unless the
    // policy names another, e.g. for a peer behind a NAT).
    encap: { localPort: dp.port, remotePort: peerPort },
    encryption: { id: enc.id, keyBits: enc.keyBits, keyMaterial: encKey },
    ...(integ ? { integrity: integ } : {}),
    esn: f.esn,
    replayWindow: f.replayWindow,
    lifetime: { soft: { ...f.lifetime.soft }, hard: { ...f.lifetime.hard } },
    selector: policy.selector,
    policyId: policy.id,
    ...(f.allowTestOnlyAlgorithms === true ? { allowTestOnlyAlgorithms: true } : {}),
  };
  return { name: f.name, policy: policy.id, encryption: encName, integrity: integName, config };
}

function keyLengthText(bytes: number, keyBits: number, id: number): string {
  const salt = bytes - keyBits / 8;
  const rfc = id === ENCR.CHACHA20_POLY1305 ? 'RFC 7634 §4' : 'RFC 4106 §8.1';
  const parts = salt > 0 ? ` (${keyBits / 8}-byte key + ${salt}-byte salt, ${rfc})` : '';
  return `${bytes} bytes of key material = ${bytes * 2} hex digits${parts}`;
}

function warningsFor(policies: readonly Policy[], sas: readonly ManualSa[]): string[] {
  const warnings: string[] = [];
  for (const p of policies) {
    if (p.action !== 'protect') continue;
    const mine = sas.filter((s) => s.policy === p.id);
    if (!mine.some((s) => s.config.direction === 'out')) {
      warnings.push(`policy "${p.id}" protects traffic but has no outbound SA: matching packets are dropped (acquire)`);
    }
    if (!mine.some((s) => s.config.direction === 'in')) {
      warnings.push(`policy "${p.id}" has no inbound SA: the peer's packets for it cannot be decrypted`);
    }
  }
  return warnings;
}
