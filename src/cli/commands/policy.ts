// `keyplane policy add|list|rm`: the controller's distribution policies (seed 000), through
// its admin API (docs/cli.md "Policies", docs/admin-api.md). Values are passed to the API
// as typed; the API checks them and its error names the field (exit 2).
import type { Command } from 'commander';
import type { PolicyView } from '../../controller/admin-views.js';
import { UsageError } from '../usage-error.js';
import { ApiClient, apiOptions, type ApiOptions } from './api-client.js';
import { flowText, table } from './table.js';

interface AddOptions extends ApiOptions {
  readonly protocol?: string;
  readonly port?: string;
  readonly esp?: string;
  readonly mode?: string;
  readonly lifetime?: string;
  readonly esn?: boolean;
  readonly json?: boolean;
}

interface JsonOption extends ApiOptions {
  readonly json?: boolean;
}

// Digits become numbers; anything else goes as text, for the API to refuse by name.
const numberOrText = (s: string): number | string => (/^[0-9]{1,10}$/.test(s.trim()) ? Number(s) : s);

export function policyLine(p: PolicyView): string {
  return `${p.name} (id ${p.id}): ${p.a} <-> ${p.b}, flow ${flowText(p.flow)}, ${p.esp} ${p.mode}, lifetime ${p.lifetimeSeconds} s${p.esn ? ', ESN' : ''}`;
}

export async function runPolicyAdd(name: string, a: string, b: string, o: AddOptions): Promise<void> {
  if (o.port !== undefined && o.protocol === undefined) throw new UsageError('--port needs --protocol (e.g. --protocol tcp --port 443)');
  const body = {
    name,
    a,
    b,
    ...(o.protocol !== undefined ? { flow: { protocol: numberOrText(o.protocol), ...(o.port !== undefined ? { port: numberOrText(o.port) } : {}) } } : {}),
    ...(o.esp !== undefined ? { esp: o.esp } : {}),
    ...(o.mode !== undefined ? { mode: o.mode } : {}),
    ...(o.lifetime !== undefined ? { lifetimeSeconds: numberOrText(o.lifetime) } : {}),
    ...(o.esn === true ? { esn: true } : {}),
  };
  const r = await ApiClient.fromOptions(o).request<{ policy: PolicyView }>('POST', '/v1/policies', body);
  if (o.json) process.stdout.write(`${JSON.stringify({ policy: r.policy }, null, 2)}\n`);
  else process.stdout.write(`added policy ${policyLine(r.policy)}\n`);
}

export async function runPolicyList(o: JsonOption): Promise<void> {
  const r = await ApiClient.fromOptions(o).request<{ policies: PolicyView[] }>('GET', '/v1/policies');
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ policies: r.policies }, null, 2)}\n`);
    return;
  }
  if (r.policies.length === 0) {
    process.stdout.write('no policies (add one with: keyplane policy add NAME A B)\n');
    return;
  }
  const rows = [['NAME', 'A', 'B', 'FLOW', 'ESP', 'MODE', 'LIFETIME', 'ESN', 'ID']];
  for (const p of r.policies) rows.push([p.name, p.a, p.b, flowText(p.flow), p.esp, p.mode, `${p.lifetimeSeconds}s`, p.esn ? 'on' : 'off', p.id]);
  process.stdout.write(`${table(rows).join('\n')}\n`);
}

export async function runPolicyRemove(nameOrId: string, o: JsonOption): Promise<void> {
  const r = await ApiClient.fromOptions(o).request<{ policy: PolicyView }>('DELETE', `/v1/policies/${encodeURIComponent(nameOrId)}`);
  if (o.json) process.stdout.write(`${JSON.stringify({ removed: true, policy: r.policy })}\n`);
  else process.stdout.write(`removed policy ${policyLine(r.policy)}\n`);
}

export function registerPolicy(program: Command): void {
  const policy = program
    .command('policy')
    .description('manage the distribution policies of the setting server (seed 000), through the admin API')
    .addHelpText('after', '\nSee docs/cli.md "Policies" and docs/admin-api.md.');

  apiOptions(
    policy
      .command('add')
      .description('add a policy for the pair A <-> B (either order); "*" is any device')
      .argument('<name>', 'policy name: 1-64 characters of A-Za-z0-9_.-, unique')
      .argument('<a>', 'an IP address of one end, or "*"')
      .argument('<b>', 'an IP address of the other end, or "*"')
      .option('--protocol <proto>', 'only this flow: an IP protocol (tcp, udp, ... or 0-255)')
      .option('--port <port>', 'only this service port of the protocol (source or destination), 1-65535')
      .option('--esp <proposal>', 'ESP algorithms, strongSwan style: aes256gcm16, aes128-sha256, chacha20poly1305, ... (default aes256gcm16)')
      .option('--mode <mode>', 'tunnel or transport (default tunnel)')
      .option('--lifetime <seconds>', 'SA lifetime in seconds (default 3600)')
      .option('--esn', 'use 64-bit extended sequence numbers (RFC 4303 §2.2.1)')
      .option('--json', 'print {"policy": {...}} as JSON'),
  )
    .addHelpText('after', '\nExamples:\n  keyplane policy add berlin-paris 192.0.2.1 198.51.100.7\n  keyplane policy add default "*" "*" --esp aes128-sha256\n  keyplane policy add web 192.0.2.1 "*" --protocol tcp --port 443 --mode transport')
    .action((name: string, a: string, b: string, o: AddOptions) => runPolicyAdd(name, a, b, o));

  apiOptions(policy.command('list').description('list the policies').option('--json', 'print {"policies": [...]} as JSON')).action((o: JsonOption) => runPolicyList(o));

  apiOptions(policy.command('rm').description('remove a policy').argument('<name>', 'policy name or id').option('--json', 'print {"removed", "policy"} as JSON')).action(
    (name: string, o: JsonOption) => runPolicyRemove(name, o),
  );
}
