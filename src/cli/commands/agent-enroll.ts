// `keyplane agent enroll TOKEN`: checks an enrollment token from `keyplane device add` and
// stores it as the agent's enrollment file (mode 0600, written atomically). The token and
// the init key are never printed.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { DEFAULT_ENROLLMENT_FILE, writeEnrollmentFile } from '../../agent/enrollment-file.js';
import { EnrollmentError, EnrollmentErrorCode, parseEnrollmentToken } from '../../store/enrollment-token.js';
import { spiHex } from '../status.js';
import { UsageError } from '../usage-error.js';

interface EnrollOptions {
  readonly file: string;
  readonly force?: boolean;
  readonly json?: boolean;
}

const INPUT_CODES: ReadonlySet<string> = new Set([
  EnrollmentErrorCode.TOKEN_FORMAT,
  EnrollmentErrorCode.TOKEN_VERSION,
  EnrollmentErrorCode.TOKEN_FIELD,
  EnrollmentErrorCode.FILE_EXISTS,
]);

export function runAgentEnroll(tokenArg: string, o: EnrollOptions): void {
  // "-": read the token from stdin, so it stays out of the process list and shell history.
  const token = tokenArg === '-' ? readFileSync(0, 'utf8') : tokenArg;
  try {
    const e = parseEnrollmentToken(token);
    writeEnrollmentFile(o.file, e, { force: o.force === true, nowMs: Date.now() });
    const summary = {
      deviceId: e.deviceId,
      name: e.name,
      file: o.file,
      initSpi: spiHex(e.initSpi),
      variant: e.variant,
      forwardSecrecy: e.forwardSecrecy,
      controller: e.controller,
    };
    if (o.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
    else {
      process.stdout.write(
        `enrolled device ${e.name} (id ${e.deviceId}) with controller ${e.controller.identity} at ${e.controller.address} port ${e.controller.port}; ` +
          `wrote ${o.file} (mode 0600)\n`,
      );
    }
  } catch (err) {
    if (err instanceof EnrollmentError && INPUT_CODES.has(err.code)) throw new UsageError(err.message);
    throw err;
  }
}

export function registerAgentEnroll(program: Command): void {
  // `agent` may already exist (the agent's own commands): add to it rather than shadow it.
  const agent =
    program.commands.find((c) => c.name() === 'agent') ?? program.command('agent').description('the keyplane agent that runs on each IPsec device');
  agent
    .command('enroll')
    .description('store an enrollment token from "keyplane device add" in the agent\'s enrollment file (mode 0600)')
    .argument('<token>', 'the token (kp1.…), or - to read it from stdin')
    .option('--file <file>', 'the enrollment file', DEFAULT_ENROLLMENT_FILE)
    .option('--force', 'replace an existing enrollment file')
    .option('--json', 'print {"deviceId", "name", "file", "initSpi", "variant", "forwardSecrecy", "controller"} as JSON')
    .addHelpText('after', '\nExample:\n  keyplane device add gw1 | ssh root@gw1 keyplane agent enroll -')
    .action((token: string, o: EnrollOptions) => runAgentEnroll(token, o));
}
