// `keyplane controller run|status`: the controller's control channel (seed-004 key sender
// for every enrolled device, src/controller/keyroll-server.ts) on its store, and a look at
// a running one through its control socket.
import { isDeepStrictEqual } from 'node:util';
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
import { SettingsService } from '../../controller/settings-service.js';
import { startAdminApi, loadOrCreateAdminToken, type AdminApi } from '../../controller/admin-api.js';
import { AdminTokenError } from '../../controller/admin-token.js';
import { anchoredClock } from '../../io/clock.js';
import { loadControllerConfig, type ControllerConfig } from '../../config/controller-config.js';

export const DEFAULT_ADMIN_PORT = 4580;
export const DEFAULT_ADMIN_TOKEN_FILE = '/var/lib/keyplane/admin.token';
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
  readonly config?: string;
  readonly store: string;
  readonly masterKey: string;
  readonly listen?: string;
  readonly rotationSeconds?: string;
  readonly minRotationSeconds?: string;
  readonly initRate?: string;
  readonly initBurst?: string;
  readonly replayWindow?: string;
  readonly refreshSeconds?: string;
  readonly activationSeconds?: string;
  readonly activationMaxSends?: string;
  readonly adminListen: string;
  readonly adminTokenFile: string;
  readonly controlSocket: string;
}

// Store problems the operator fixes by changing the command line or a file: exit code 2.
const USAGE_CODES: ReadonlySet<string> = new Set(STORE_OPEN_USAGE_CODES);

export async function runController(cli: RunOptions, isSet: (option: string) => boolean = () => false): Promise<void> {
  // --config gives defaults for everything; flags on the command line still win.
  const cfg: ControllerConfig | null = cli.config === undefined ? null : loadControllerConfig(cli.config);
  const from = <K extends keyof RunOptions>(k: K, v: RunOptions[K] | undefined): Partial<RunOptions> => (cfg !== null && !isSet(k) && v !== undefined ? { [k]: v } : {});
  const o: RunOptions = {
    ...cli,
    ...from('store', cfg?.store),
    ...from('masterKey', cfg?.masterKey),
    ...from('listen', cfg === null ? undefined : formatEndpoint(cfg.listen)),
    ...from('adminListen', cfg === null ? undefined : cfg.admin.listen === null ? 'off' : formatEndpoint(cfg.admin.listen)),
    ...from('adminTokenFile', cfg?.admin.tokenFile),
    ...from('rotationSeconds', cfg?.rotationSeconds == null ? undefined : String(cfg.rotationSeconds)),
    ...from('activationSeconds', cfg?.tuning.activationIntervalMs === undefined ? undefined : String(cfg.tuning.activationIntervalMs / 1000)),
    ...from('activationMaxSends', cfg?.tuning.activationMaxSends === undefined ? undefined : String(cfg.tuning.activationMaxSends)),
  };
  const listen = parseAddress(o.listen, '--listen', DEFAULT_LISTEN.port) ?? DEFAULT_LISTEN;
  const rotation = parseSeconds(o.rotationSeconds, '--rotation-seconds', true);
  const minRotation = parseSeconds(o.minRotationSeconds, '--min-rotation-seconds', true);
  const initRate = parseCount(o.initRate, '--init-rate', 1, 100_000);
  const initBurst = parseCount(o.initBurst, '--init-burst', 1, 1000);
  const replayWindow = parseCount(o.replayWindow, '--replay-window', 32, 65536);
  const refresh = parseSeconds(o.refreshSeconds, '--refresh-seconds');
  const activation = parseSeconds(o.activationSeconds, '--activation-seconds');
  const activationMaxSends = parseCount(o.activationMaxSends, '--activation-max-sends', 1, 100);
  const adminListen = o.adminListen === 'off' ? null : parseAddress(o.adminListen, '--admin-listen', DEFAULT_ADMIN_PORT)!;
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
  let admin: AdminApi | undefined;
  const clock = anchoredClock();
  const settings = new SettingsService({
    store,
    log,
    now: clock,
    tuning: {
      ...(activation !== undefined ? { activationIntervalMs: ms(activation)! } : {}),
      ...(activationMaxSends !== undefined ? { activationMaxSends } : {}),
    },
  });
  const signal = waitForSignal();
  try {
    const sender = {
      ...(rotation !== undefined ? { rotationPeriodMs: rotation === 0 ? null : ms(rotation)! } : {}),
      ...(minRotation !== undefined ? { minRotationIntervalMs: ms(minRotation)! } : {}),
      ...(initRate !== undefined || initBurst !== undefined ? { initRateLimit: { perMinute: initRate ?? 6, burst: initBurst ?? 3 } } : {}),
      ...(replayWindow !== undefined ? { replayWindow } : {}),
    };
    if (cfg !== null) await seedPolicies(store, cfg, log);
    await settings.start();
    server = await KeyrollServer.start({ store, listen, sender, ...(refresh !== undefined ? { refreshIntervalMs: ms(refresh)! } : {}), log, now: clock, service: settings });
    settings.setPusher(server);
    const s = server;
    if (adminListen !== null) {
      let token: Uint8Array;
      try {
        token = loadOrCreateAdminToken(o.adminTokenFile);
      } catch (e) {
        // A token file that is too open or not a token: fixed by the operator (exit 2).
        if (e instanceof AdminTokenError && (e.code === 'admin.token-permissions' || e.code === 'admin.token-invalid')) throw new UsageError(e.message);
        throw e;
      }
      admin = await startAdminApi({ listen: adminListen, token, store, log, onChange: () => void s.refresh() });
      log.info(`admin API on ${admin.url} (token in ${o.adminTokenFile})`);
    }
    const fullStatus = (): ControllerStatus => ({ ...s.status(), settings: settings.status() });
    control = await startControlServer(o.controlSocket, async (req) => {
      if (req.method === 'status') return fullStatus();
      if (req.method === 'refresh') {
        await s.refresh();
        return fullStatus();
      }
      throw new Error(`unknown method "${req.method}"`);
    });
    log.info(`ready: controller on UDP ${formatEndpoint(server.local)}, store ${o.store}; status: keyplane controller status --socket ${o.controlSocket}`);
    const sig = await signal;
    log.info(`${sig}: shutting down`);
  } finally {
    await control?.close();
    await admin?.close();
    await server?.stop();
    await settings.stop();
    await store.close();
    if (server !== undefined) log.info('stopped; channel state saved');
  }
}

// The config file's policies, added to the store when no policy of that name exists (the
// store stays the truth: a policy changed through the admin API is not overwritten).
async function seedPolicies(store: SqliteControllerStore, cfg: ControllerConfig, log: ReturnType<typeof createLogger>): Promise<void> {
  const existing = new Map((await store.listPolicies()).map((p) => [p.name, p]));
  for (const p of cfg.policies) {
    const had = existing.get(p.name);
    if (had === undefined) {
      await store.addPolicy(p, Date.now());
      log.info(`policy ${p.name} added from ${cfg.file}`);
    } else if (!isDeepStrictEqual({ a: had.a, b: had.b, flow: had.flow, applied: had.applied }, { a: p.a, b: p.b, flow: p.flow, applied: p.applied })) {
      log.warn(`policy ${p.name} in ${cfg.file} differs from the stored one; the stored one is kept (keyplane policy rm ${p.name} to take the file's)`);
    }
  }
}

async function status(o: { socket: string; json?: boolean }): Promise<void> {
  const result = (await controlRequest(o.socket, 'status')) as ControllerStatus;
  process.stdout.write(o.json ? `${JSON.stringify(result, null, 2)}\n` : `${formatControllerStatus(result)}\n`);
}

export function registerController(program: Command): void {
  const c = program.command('controller').description('the keyplane controller: the setting server (seed 000) with its admin API, on the keyed control channel (seed 004)');
  c.command('run')
    .description('serve the control channel for every device in the store, the seed-000 settings service and the admin API; runs until SIGINT/SIGTERM')
    .option('-c, --config <file>', 'controller config file (docs/configuration.md "Controller configuration"); flags override it')
    .option('--store <file>', 'the controller store (SQLite)', DEFAULT_STORE_FILE)
    .option('--master-key <file>', 'the controller master key file (mode 0600)', DEFAULT_MASTER_KEY_FILE)
    .option('--listen <addr:port>', `UDP address and port of the control channel (default ${formatEndpoint(DEFAULT_LISTEN)})`)
    .option('--rotation-seconds <n>', "rotate each device's channel key this often; 0 = only when the agent asks (default 3600)")
    .option('--min-rotation-seconds <n>', 'at most one rotation per device per this many seconds (default 60)')
    .option('--init-rate <n>', 'initialisations allowed per device per minute (default 6)')
    .option('--init-burst <n>', 'initialisations allowed per device in a row (default 3)')
    .option('--replay-window <n>', 'anti-replay window per key, packets (default 64)')
    .option('--refresh-seconds <n>', 'read the store for enrolled and revoked devices this often (default 2)')
    .option('--activation-seconds <n>', 'seed 000: send a request activation to the peer this often (default 5)')
    .option('--activation-max-sends <n>', 'seed 000: request activations before giving up with "no response" (default 6)')
    .option('--admin-listen <addr:port>', `admin HTTP API address, or "off"`, `127.0.0.1:${DEFAULT_ADMIN_PORT}`)
    .option('--admin-token-file <file>', 'admin API bearer token (created, mode 0600, when missing)', DEFAULT_ADMIN_TOKEN_FILE)
    .option('--control-socket <path>', 'unix socket for "controller status"', DEFAULT_CONTROLLER_SOCKET)
    .addHelpText(
      'after',
      '\nLogs go to stderr, one structured line per event (device, generation, key fingerprint;\n' +
        'never keys). On SIGINT/SIGTERM pending store writes finish before it exits.\n\n' +
        'Example:\n  keyplane controller run --listen 0.0.0.0:4501 --rotation-seconds 3600\n\nSee docs/controller-agent.md.',
    )
    .action((o: RunOptions, cmd: Command) => runController(o, (k) => cmd.getOptionValueSource(k) === 'cli'));
  c.command('status')
    .description('show each device: key generation, fingerprints (never keys), last seen, counters')
    .option('-s, --socket <path>', 'control socket of the running controller', DEFAULT_CONTROLLER_SOCKET)
    .option('--json', 'print the status as JSON')
    .action(status);
}
