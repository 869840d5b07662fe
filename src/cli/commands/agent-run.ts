// `keyplane agent run|status`: the agent's end of the control channel (seed-004 key
// receiver, src/agent/keyroll-client.ts) from its enrollment file, and a look at a running
// one through its control socket.
import type { Command } from 'commander';
import { KeyrollClient } from '../../agent/keyroll-client.js';
import { formatAgentStatus, type AgentStatus } from '../../agent/keyroll-status.js';
import { DEFAULT_ENROLLMENT_FILE, readEnrollmentFile, type AgentEnrollment } from '../../agent/enrollment-file.js';
import { EnrollmentError } from '../../store/enrollment-token.js';
import { formatEndpoint, resolveEndpoint } from '../../io/control-udp.js';
import { controlRequest, startControlServer, type ControlServer } from '../control-socket.js';
import { createLogger } from '../log.js';
import { UsageError } from '../usage-error.js';
import { ms, parseAddress, parseCount, parseSeconds, waitForSignal } from './controller.js';
import { isIP } from 'node:net';
import { readFileSync } from 'node:fs';
import { loadAgentConfig, type AgentConfig } from '../../config/agent-config.js';
import { createUserspaceDataPlane, type UserspaceDataPlane } from '../../dataplane/userspace.js';
import { SettingsClient } from '../../agent/settings-client.js';
import { anchoredClock } from '../../io/clock.js';

// Is the kernel forwarding packets of this address family (router mode needs it)?
function forwardingEnabled(address: string): boolean {
  const file = isIP(address) === 6 ? '/proc/sys/net/ipv6/conf/all/forwarding' : '/proc/sys/net/ipv4/ip_forward';
  try {
    return readFileSync(file, 'utf8').trim() === '1';
  } catch {
    return true; // cannot tell: say nothing
  }
}

export const DEFAULT_AGENT_STATE_FILE = '/var/lib/keyplane/agent-state.json';
export const DEFAULT_AGENT_SOCKET = '/run/keyplane/agent.sock';

interface RunOptions {
  readonly config?: string;
  readonly file: string;
  readonly state: string;
  readonly controller?: string;
  readonly bind?: string;
  readonly registrationSeconds?: string;
  readonly replyTimeoutSeconds?: string;
  readonly maxResends?: string;
  readonly rotationSeconds?: string;
  readonly initRetryMaxSeconds?: string;
  readonly replayWindow?: string;
  readonly controlSocket: string;
}

export async function runAgent(cli: RunOptions, isSet: (option: string) => boolean = () => false): Promise<void> {
  // With --config the file gives the enrollment, state and controller (flags still win
  // where given) and the agent also runs the data plane and the seed-000 settings client.
  const cfg: AgentConfig | null = cli.config === undefined ? null : loadAgentConfig(cli.config);
  const o: RunOptions = {
    ...cli,
    file: cfg !== null && !isSet('file') ? cfg.enrollment : cli.file,
    state: cfg !== null && !isSet('state') ? cfg.state : cli.state,
    ...(cfg?.controller != null && cli.controller === undefined ? { controller: cfg.controller } : {}),
    ...(cfg?.registrationSeconds != null && cli.registrationSeconds === undefined ? { registrationSeconds: String(cfg.registrationSeconds) } : {}),
  };
  const override = parseAddress(o.controller, '--controller');
  const bind = parseAddress(o.bind, '--bind', 0);
  const registration = parseSeconds(o.registrationSeconds, '--registration-seconds');
  const replyTimeout = parseSeconds(o.replyTimeoutSeconds, '--reply-timeout-seconds');
  const maxResends = parseCount(o.maxResends, '--max-resends', 0, 100);
  const rotation = parseSeconds(o.rotationSeconds, '--rotation-seconds', true);
  const initRetryMax = parseSeconds(o.initRetryMaxSeconds, '--init-retry-max-seconds');
  const replayWindow = parseCount(o.replayWindow, '--replay-window', 32, 65536);
  let enrollment: AgentEnrollment;
  try {
    enrollment = readEnrollmentFile(o.file);
  } catch (e) {
    // Missing, unreadable or too open: fixed by enrolling or chmod, so a usage error.
    if (e instanceof EnrollmentError) throw new UsageError(e.message);
    throw e;
  }
  const controller = await resolveEndpoint(override ?? enrollment.controller);
  const log = createLogger();
  const receiver = {
    ...(registration !== undefined ? { registrationIntervalMs: ms(registration)! } : {}),
    ...(replyTimeout !== undefined ? { replyTimeoutMs: ms(replyTimeout)! } : {}),
    ...(maxResends !== undefined ? { maxResends } : {}),
    ...(rotation !== undefined ? { rotationPeriodMs: rotation === 0 ? null : ms(rotation)! } : {}),
    ...(initRetryMax !== undefined ? { initRetryMaxMs: ms(initRetryMax)! } : {}),
    ...(replayWindow !== undefined ? { replayWindow } : {}),
  };
  let client: KeyrollClient | undefined;
  let control: ControlServer | undefined;
  let dataPlane: UserspaceDataPlane | undefined;
  let settings: SettingsClient | undefined;
  const signal = waitForSignal();
  try {
    if (cfg !== null) {
      if (cfg.mode === 'router' && !forwardingEnabled(cfg.address)) {
        log.warn(`router mode but IP forwarding is off: hosts behind this device cannot use the tunnels (sysctl -w net.ipv${isIP(cfg.address) === 6 ? '6.conf.all.forwarding' : '4.ip_forward'}=1)`);
      }
      dataPlane = await createUserspaceDataPlane({ tunName: cfg.dataplane.tun, mtu: cfg.dataplane.mtu, localAddress: cfg.address, port: cfg.dataplane.port });
      const clock = anchoredClock();
      settings = new SettingsClient({
        entries: cfg.entries,
        dataPlane,
        send: (items) => client?.attach(items),
        log,
        now: clock,
        tuning: cfg.tuning,
      });
    }
    const sc = settings;
    client = await KeyrollClient.start({
      params: enrollment.params,
      controller,
      ...(bind !== undefined ? { bind } : {}),
      statePath: o.state,
      receiver,
      log,
      ...(sc !== undefined ? { service: { knownItemType: sc.knownItemType, onDeliver: sc.onDeliver } } : {}),
    });
    await settings?.start();
    const c = client;
    const dp = dataPlane;
    const fullStatus = async (): Promise<AgentStatus> => {
      const base = c.status();
      if (sc === undefined || dp === undefined || cfg === null) return base;
      const st = sc.status();
      const sas = (await dp.listSas()).map((x) => ({ spi: x.spi, direction: x.direction, packets: x.counters.packets, bytes: x.counters.bytes }));
      const dpCounters = Object.fromEntries(Object.entries(await dp.counters()).map(([k, v]) => [`dataplane.${k}`, v]));
      return { ...base, settings: { mode: cfg.mode, address: cfg.address, tun: dp.tunName, entries: st.entries, sas, counters: { ...st.counters, ...dpCounters } } };
    };
    control = await startControlServer(o.controlSocket, async (req) => {
      if (req.method === 'status') return fullStatus();
      if (req.method === 'reinitialise') {
        c.reinitialise();
        return fullStatus();
      }
      throw new Error(`unknown method "${req.method}"`);
    });
    log.info(
      `ready: agent ${enrollment.enrollment.name} (${enrollment.params.deviceId}) -> controller ${enrollment.controller.identity} at ${formatEndpoint(controller)}; ` +
        `status: keyplane agent status --socket ${o.controlSocket}`,
    );
    const sig = await signal;
    log.info(`${sig}: shutting down`);
  } finally {
    await control?.close();
    await settings?.stop();
    await client?.stop();
    await dataPlane?.close();
    if (client !== undefined) log.info('stopped');
  }
}

async function status(o: { socket: string; json?: boolean }): Promise<void> {
  const result = (await controlRequest(o.socket, 'status')) as AgentStatus;
  process.stdout.write(o.json ? `${JSON.stringify(result, null, 2)}\n` : `${formatAgentStatus(result)}\n`);
}

export function registerAgentRun(program: Command): void {
  // `agent enroll` (agent-enroll.ts) shares the parent command: add to it, never shadow it.
  const agent = program.commands.find((c) => c.name() === 'agent') ?? program.command('agent').description('the keyplane agent that runs on each IPsec device');
  agent
    .command('run')
    .description('keep the control channel with the controller keyed (seed-004 key receiver); with --config also run the data plane and get IPsec settings from the controller (seed 000); runs until SIGINT/SIGTERM')
    .option('-c, --config <file>', 'agent config file (docs/configuration.md "Agent"): data plane, protected traffic, peers')
    .option('--file <file>', 'the enrollment file from "keyplane agent enroll"', DEFAULT_ENROLLMENT_FILE)
    .option('--state <file>', 'the channel state file (keys; mode 0600, written before every use)', DEFAULT_AGENT_STATE_FILE)
    .option('--controller <addr:port>', "override the controller's address from the enrollment (NAT, relays)")
    .option('--bind <addr:port>', 'local UDP address and port (default: any, a free port)')
    .option('--registration-seconds <n>', 'register (heartbeat) this often (default 30)')
    .option('--reply-timeout-seconds <n>', 'wait this long for each answer (default 5)')
    .option('--max-resends <n>', 'unanswered registrations retried before initialising again (default 1, as the seed)')
    .option('--rotation-seconds <n>', 'ask for a new key this often (explicit variant); 0 = leave it to the controller (default 0)')
    .option('--init-retry-max-seconds <n>', 'longest wait between init retransmissions (default 60)')
    .option('--replay-window <n>', 'anti-replay window per key, packets (default 64)')
    .option('--control-socket <path>', 'unix socket for "agent status"', DEFAULT_AGENT_SOCKET)
    .addHelpText(
      'after',
      '\nLogs go to stderr, one structured line per event (generation, key fingerprint; never keys).\n\n' +
        'Example:\n  keyplane agent run --file /var/lib/keyplane/agent.json\n\nSee docs/controller-agent.md.',
    )
    .action((o: RunOptions, cmd: Command) => runAgent(o, (k) => cmd.getOptionValueSource(k) === 'cli'));
  agent
    .command('status')
    .description("show the agent's key generation and fingerprints (never keys), last answer, counters")
    .option('-s, --socket <path>', 'control socket of the running agent', DEFAULT_AGENT_SOCKET)
    .option('--json', 'print the status as JSON')
    .action(status);
}
