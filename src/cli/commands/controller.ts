// `keyplane controller run|status`: the controller's control channel (seed-004 key sender
// for every enrolled device, src/controller/keyroll-server.ts) on its store, and a look at
// a running one through its control socket.
import type { Command } from 'commander';
import { KeyrollServer, DEFAULT_LISTEN } from '../../controller/keyroll-server.js';
import { formatControllerStatus, type ControllerStatus } from '../../controller/status.js';
import { formatEndpoint, parseEndpoint } from '../../io/control-udp.js';
import { IoError } from '../../io/errors.js';
import { openSqliteStore, type SqliteControllerStore } from '../../store/sqlite.js';
import { StoreError } from '../../store/types.js';
import { STORE_OPEN_USAGE_CODES } from '../../store/error-codes.js';
import { controlRequest, startControlServer, type ControlServer } from '../control-socket.js';
import { createLogger } from '../log.js';
import { UsageError } from '../usage-error.js';
import { DEFAULT_MASTER_KEY_FILE, DEFAULT_STORE_FILE } from './device.js';

export const DEFAULT_CONTROLLER_SOCKET = '/run/keyplane/controller.sock';

// --------------------------------------------------------- option parsing (shared with agent-run.ts)

// A duration in seconds (fractions allowed: tests run with 0.1 s timers), > 0, or also 0
// when `zeroAllowed` (the option then documents what 0 means).
export function parseSeconds(text: string | undefined, option: string, zeroAllowed = false): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text.trim()) || !Number.isFinite(v) || (v === 0 && !zeroAllowed) || v > 365 * 86400) {
    throw new UsageError(`${option} must be a number of seconds${zeroAllowed ? ' (0 = off)' : ' > 0'}, got ${JSON.stringify(text.slice(0, 20))}`);
  }
  return v;
}

export function parseCount(text: string | undefined, option: string, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,9}$/.test(text.trim()) || Number(text) < min || Number(text) > max) {
    throw new UsageError(`${option} must be an integer ${min}..${max}, got ${JSON.stringify(text.slice(0, 20))}`);
  }
  return Number(text);
}

export function parseAddress(text: string | undefined, option: string, defaultPort?: number): ReturnType<typeof parseEndpoint> | undefined {
  if (text === undefined) return undefined;
  try {
    return parseEndpoint(text, defaultPort);
  } catch (e) {
    if (e instanceof IoError) throw new UsageError(`${option}: ${e.message}`);
    throw e;
  }
}

export function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (sig: NodeJS.Signals): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(sig);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

export const ms = (seconds: number | undefined): number | undefined => (seconds === undefined ? undefined : Math.round(seconds * 1000));

// ---------------------------------------------------------------------------- run

interface RunOptions {
  readonly store: string;
  readonly masterKey: string;
  readonly listen?: string;
  readonly rotationSeconds?: string;
  readonly minRotationSeconds?: string;
  readonly initRate?: string;
  readonly initBurst?: string;
  readonly replayWindow?: string;
  readonly refreshSeconds?: string;
  readonly controlSocket: string;
}

// Store problems the operator fixes by changing the command line or a file: exit code 2.
const USAGE_CODES: ReadonlySet<string> = new Set(STORE_OPEN_USAGE_CODES);

export async function runController(o: RunOptions): Promise<void> {
  const listen = parseAddress(o.listen, '--listen', DEFAULT_LISTEN.port) ?? DEFAULT_LISTEN;
  const rotation = parseSeconds(o.rotationSeconds, '--rotation-seconds', true);
  const minRotation = parseSeconds(o.minRotationSeconds, '--min-rotation-seconds', true);
  const initRate = parseCount(o.initRate, '--init-rate', 1, 100_000);
  const initBurst = parseCount(o.initBurst, '--init-burst', 1, 1000);
  const replayWindow = parseCount(o.replayWindow, '--replay-window', 32, 65536);
  const refresh = parseSeconds(o.refreshSeconds, '--refresh-seconds');
  const log = createLogger();

  let store: SqliteControllerStore;
  try {
    store = openSqliteStore({ path: o.store, masterKeyFile: o.masterKey, create: true });
  } catch (e) {
    if (e instanceof StoreError && USAGE_CODES.has(e.code)) throw new UsageError(e.message);
    throw e;
  }
  let server: KeyrollServer | undefined;
  let control: ControlServer | undefined;
  const signal = waitForSignal();
  try {
    const sender = {
      ...(rotation !== undefined ? { rotationPeriodMs: rotation === 0 ? null : ms(rotation)! } : {}),
      ...(minRotation !== undefined ? { minRotationIntervalMs: ms(minRotation)! } : {}),
      ...(initRate !== undefined || initBurst !== undefined ? { initRateLimit: { perMinute: initRate ?? 6, burst: initBurst ?? 3 } } : {}),
      ...(replayWindow !== undefined ? { replayWindow } : {}),
    };
    server = await KeyrollServer.start({ store, listen, sender, ...(refresh !== undefined ? { refreshIntervalMs: ms(refresh)! } : {}), log });
    const s = server;
    control = await startControlServer(o.controlSocket, async (req) => {
      if (req.method === 'status') return s.status();
      if (req.method === 'refresh') {
        await s.refresh();
        return s.status();
      }
      throw new Error(`unknown method "${req.method}"`);
    });
    log.info(`ready: controller on UDP ${formatEndpoint(server.local)}, store ${o.store}; status: keyplane controller status --socket ${o.controlSocket}`);
    const sig = await signal;
    log.info(`${sig}: shutting down`);
  } finally {
    await control?.close();
    await server?.stop();
    await store.close();
    if (server !== undefined) log.info('stopped; channel state saved');
  }
}

async function status(o: { socket: string; json?: boolean }): Promise<void> {
  const result = (await controlRequest(o.socket, 'status')) as ControllerStatus;
  process.stdout.write(o.json ? `${JSON.stringify(result, null, 2)}\n` : `${formatControllerStatus(result)}\n`);
}

export function registerController(program: Command): void {
  const c = program.command('controller').description('the keyplane controller: key sender of the controller <-> agent control channel (seed 004)');
  c.command('run')
    .description('serve the control channel for every device in the store; runs until SIGINT/SIGTERM')
    .option('--store <file>', 'the controller store (SQLite)', DEFAULT_STORE_FILE)
    .option('--master-key <file>', 'the controller master key file (mode 0600)', DEFAULT_MASTER_KEY_FILE)
    .option('--listen <addr:port>', `UDP address and port of the control channel (default ${formatEndpoint(DEFAULT_LISTEN)})`)
    .option('--rotation-seconds <n>', "rotate each device's channel key this often; 0 = only when the agent asks (default 3600)")
    .option('--min-rotation-seconds <n>', 'at most one rotation per device per this many seconds (default 60)')
    .option('--init-rate <n>', 'initialisations allowed per device per minute (default 6)')
    .option('--init-burst <n>', 'initialisations allowed per device in a row (default 3)')
    .option('--replay-window <n>', 'anti-replay window per key, packets (default 64)')
    .option('--refresh-seconds <n>', 'read the store for enrolled and revoked devices this often (default 2)')
    .option('--control-socket <path>', 'unix socket for "controller status"', DEFAULT_CONTROLLER_SOCKET)
    .addHelpText(
      'after',
      '\nLogs go to stderr, one structured line per event (device, generation, key fingerprint;\n' +
        'never keys). On SIGINT/SIGTERM pending store writes finish before it exits.\n\n' +
        'Example:\n  keyplane controller run --listen 0.0.0.0:4501 --rotation-seconds 3600\n\nSee docs/controller-agent.md.',
    )
    .action((o: RunOptions) => runController(o));
  c.command('status')
    .description('show each device: key generation, fingerprints (never keys), last seen, counters')
    .option('-s, --socket <path>', 'control socket of the running controller', DEFAULT_CONTROLLER_SOCKET)
    .option('--json', 'print the status as JSON')
    .action(status);
}
