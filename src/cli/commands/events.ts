// `keyplane events [--follow]`: the controller's event log (requests, distributions,
// activations, errors, expiries, renewals), through the admin API. Without --after it
// shows the newest events; --follow then keeps polling for new ones until SIGINT/SIGTERM.
import type { Command } from 'commander';
import type { EventView } from '../../controller/admin-views.js';
import { parseCount, parseSeconds, waitForSignal } from './controller.js';
import { ApiClient, apiOptions, type ApiOptions } from './api-client.js';
import { table } from './table.js';

interface EventsOptions extends ApiOptions {
  readonly after?: string;
  readonly limit?: string;
  readonly follow?: boolean;
  readonly interval?: string;
  readonly json?: boolean;
}

interface Page {
  readonly events: EventView[];
  readonly last: number;
}

const DEFAULT_TAIL = 20;
const MAX_PAGE = 1000;

function detailText(detail: Readonly<Record<string, unknown>>): string {
  return Object.entries(detail)
    .map(([k, v]) => {
      const s = typeof v === 'string' ? v : JSON.stringify(v);
      return `${k}=${/^[\w.:/[\]@+,-]*$/.test(s) ? s : JSON.stringify(s)}`;
    })
    .join(' ');
}

function rowsOf(events: readonly EventView[]): string[][] {
  return events.map((e) => [String(e.id), e.at, e.kind, e.device ?? e.deviceId ?? '-', detailText(e.detail)]);
}

export async function runEvents(o: EventsOptions): Promise<void> {
  const after = parseCount(o.after, '--after', 0, Number.MAX_SAFE_INTEGER);
  const limit = parseCount(o.limit, '--limit', 1, MAX_PAGE);
  const interval = parseSeconds(o.interval, '--interval') ?? 1;
  const api = ApiClient.fromOptions(o);
  const query = after !== undefined ? `after=${after}&limit=${limit ?? 100}` : `tail=${limit ?? DEFAULT_TAIL}`;
  const first = await api.request<Page>('GET', `/v1/events?${query}`);

  if (!o.follow) {
    if (o.json) process.stdout.write(`${JSON.stringify({ events: first.events, last: first.last }, null, 2)}\n`);
    else if (first.events.length === 0) process.stdout.write('no events\n');
    else process.stdout.write(`${table([['ID', 'TIME', 'KIND', 'DEVICE', 'DETAIL'], ...rowsOf(first.events)]).join('\n')}\n`);
    return;
  }

  // Follow: one line per event as it comes (JSON lines with --json).
  const print = (events: readonly EventView[]): void => {
    if (events.length === 0) return;
    if (o.json) process.stdout.write(events.map((e) => `${JSON.stringify(e)}\n`).join(''));
    else process.stdout.write(`${rowsOf(events).map((r) => r.join('  ')).join('\n')}\n`);
  };
  print(first.events);
  let cursor = first.last;
  let stopped = false;
  const signal = waitForSignal().then(() => {
    stopped = true;
  });
  while (!stopped) {
    await Promise.race([signal, new Promise((resolve) => setTimeout(resolve, interval * 1000))]);
    if (stopped) break;
    // Drain everything new before sleeping again.
    for (;;) {
      const page = await api.request<Page>('GET', `/v1/events?after=${cursor}&limit=${MAX_PAGE}`);
      print(page.events);
      cursor = page.last;
      if (page.events.length < MAX_PAGE) break;
    }
  }
}

export function registerEvents(program: Command): void {
  apiOptions(
    program
      .command('events')
      .description('show the setting server\'s events: requests, distributions, activations, errors, renewals (admin API)')
      .option('--after <id>', 'events after this id, oldest first (default: the newest ones)')
      .option('--limit <n>', `how many (default ${DEFAULT_TAIL} newest, or 100 after --after; at most ${MAX_PAGE})`)
      .option('-f, --follow', 'keep printing new events until interrupted')
      .option('--interval <seconds>', 'how often --follow asks for new events (default 1)')
      .option('--json', 'print {"events": [...], "last"} as JSON; with --follow, one JSON object per line'),
  ).action((o: EventsOptions) => runEvents(o));
}
