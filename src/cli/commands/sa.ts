// `keyplane sa list`: the SA pairs the setting server has handed out (complete
// management-table entries) and the requests still waiting for the peer, through the
// admin API. Shows pairs, SPIs, algorithms, age and next renewal; never keys (the API
// has none to give).
import type { Command } from 'commander';
import type { PendingView, SaEndView, SaView } from '../../controller/admin-views.js';
import { ApiClient, apiOptions, type ApiOptions } from './api-client.js';
import { duration, flowText, table } from './table.js';

interface ListOptions extends ApiOptions {
  readonly json?: boolean;
  readonly all?: boolean;
}

const who = (e: SaEndView): string => (e.device === null ? e.address : `${e.address} (${e.device})`);

// Seconds from the server's "now" (completedAt + age) to `iso`: immune to clock skew
// between this host and the controller.
function until(sa: SaView, iso: string | null): string {
  if (iso === null) return '-';
  const serverNowMs = Date.parse(sa.completedAt) + sa.ageSeconds * 1000;
  return duration((Date.parse(iso) - serverNowMs) / 1000);
}

export async function runSaList(o: ListOptions): Promise<void> {
  const r = await ApiClient.fromOptions(o).request<{ sas: SaView[]; pending: PendingView[] }>('GET', '/v1/sas');
  const sas = o.all ? r.sas : r.sas.filter((s) => s.current);
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ sas, pending: r.pending }, null, 2)}\n`);
    return;
  }
  if (sas.length === 0 && r.pending.length === 0) {
    process.stdout.write('no SAs distributed yet (they are made when a device first sends traffic a policy covers)\n');
    return;
  }
  if (sas.length > 0) {
    const rows = [['A', 'B', 'FLOW', 'SPI A->B', 'SPI B->A', 'ESP', 'MODE', 'AGE', 'RENEW IN', 'EXPIRES IN', ...(o.all ? ['CURRENT'] : [])]];
    for (const s of sas) {
      rows.push([who(s.a), who(s.b), flowText(s.flow), s.spis.aToB, s.spis.bToA, s.esp, s.mode, duration(s.ageSeconds), until(s, s.renewAt), until(s, s.expiresAt), ...(o.all ? [s.current ? 'yes' : 'replaced'] : [])]);
    }
    process.stdout.write(`${table(rows).join('\n')}\n`);
  }
  if (r.pending.length > 0) {
    if (sas.length > 0) process.stdout.write('\n');
    process.stdout.write('Waiting for the peer:\n');
    const rows = [['REQUESTER', 'PEER', 'FLOW', 'POLICY', 'ACTIVATIONS', 'SINCE']];
    for (const p of r.pending) rows.push([who(p.requester), who(p.peer), flowText(p.flow), p.policy ?? p.policyId, String(p.activationsSent), p.createdAt]);
    process.stdout.write(`${table(rows).map((l) => `  ${l}`).join('\n')}\n`);
  }
}

export function registerSa(program: Command): void {
  const sa = program.command('sa').description('the SAs the setting server has distributed (seed 000), through the admin API');
  apiOptions(
    sa
      .command('list')
      .description('list SA pairs: ends, SPIs, algorithms, age, next renewal, expiry; and requests waiting for the peer')
      .option('--all', 'also list entries a renewal has replaced (they stay until they expire)')
      .option('--json', 'print {"sas": [...], "pending": [...]} as JSON'),
  ).action((o: ListOptions) => runSaList(o));
}
