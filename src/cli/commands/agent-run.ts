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

export const DEFAULT_AGENT_STATE_FILE = '/var/lib/keyplane/agent-state.json';
export const DEFAULT_AGENT_SOCKET = '/run/keyplane/agent.sock';

interface RunOptions {
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

export async function runAgent(o: RunOptions): Promise<void> {
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
  const signal = waitForSignal();
  try {
    client = await KeyrollClient.start({
      params: enrollment.params,
      controller,
      ...(bind !== undefined ? { bind } : {}),
      statePath: o.state,
      receiver,
      log,
    });
    const c = client;
    control = await startControlServer(o.controlSocket, async (req) => {
      if (req.method === 'status') return c.status();
      if (req.method === 'reinitialise') {
        c.reinitialise();
        return c.status();
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
    await client?.stop();
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
    .description('keep the control channel with the controller keyed (seed-004 key receiver); runs until SIGINT/SIGTERM')
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
    .action((o: RunOptions) => runAgent(o));
  agent
    .command('status')
    .description("show the agent's key generation and fingerprints (never keys), last answer, counters")
    .option('-s, --socket <path>', 'control socket of the running agent', DEFAULT_AGENT_SOCKET)
    .option('--json', 'print the status as JSON')
    .action(status);
}
