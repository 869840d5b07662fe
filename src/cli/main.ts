#!/usr/bin/env node
// The `keyplane` command (docs/cli.md). Exit codes: 0 ok, 1 runtime failure, 2 usage or
// config error (src/cli/exit-codes.ts).

import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/errors.js';
import { KeyplaneError } from '../util/errors.js';
import { registerConfigCheck } from './commands/config-check.js';
import { registerDataplane } from './commands/dataplane.js';
import { registerKeygen } from './commands/keygen.js';
import { registerDevice } from './commands/device.js';
import { registerAgentEnroll } from './commands/agent-enroll.js';
import { registerController } from './commands/controller.js';
import { registerAgentRun } from './commands/agent-run.js';
import { registerPolicy } from './commands/policy.js';
import { registerSa } from './commands/sa.js';
import { registerEvents } from './commands/events.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from './exit-codes.js';
import { UsageError } from './usage-error.js';
import { packageVersion } from './version.js';

export function buildProgram(): Command {
  const program = new Command('keyplane');
  program
    .description('keyplane: IPsec key and policy plane: a controller hands IPsec settings to device agents on demand (seed 000), over a keyed control channel (seed 004), with a userspace ESP data plane')
    .version(packageVersion(), '-V, --version', 'print the version')
    .exitOverride()
    .showHelpAfterError('(run the command with --help for usage)')
    .addHelpText(
      'after',
      '\nExit codes:\n  0  success\n  1  runtime failure (device, socket or peer trouble)\n  2  usage or config error\n\nDocs: docs/cli.md, docs/configuration.md',
    );
  registerDataplane(program);
  registerConfigCheck(program);
  registerKeygen(program);
  registerDevice(program);
  registerAgentEnroll(program);
  registerController(program);
  registerAgentRun(program);
  registerPolicy(program);
  registerSa(program);
  registerEvents(program);
  program
    .command('version')
    .description('print the keyplane and Node.js versions')
    .option('--json', 'print {"keyplane", "node"} as JSON')
    .action((opts: { json?: boolean }) => {
      const v = { keyplane: packageVersion(), node: process.versions.node };
      process.stdout.write(opts.json ? `${JSON.stringify(v)}\n` : `keyplane ${v.keyplane} (node ${v.node})\n`);
    });
  return program;
}

// Runs the command line; returns the exit code instead of exiting so it can be tested.
export async function main(argv: readonly string[]): Promise<number> {
  const json = argv.includes('--json');
  try {
    await buildProgram().parseAsync([...argv], { from: 'user' });
    return EXIT_OK;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT_OK : EXIT_USAGE; // commander printed it
    if (e instanceof ConfigError) {
      if (json) process.stdout.write(`${JSON.stringify({ ok: false, code: e.code, file: e.file, issues: e.issues }, null, 2)}\n`);
      process.stderr.write(`keyplane: invalid config ${e.message}\n`);
      return EXIT_USAGE;
    }
    if (e instanceof UsageError) {
      process.stderr.write(`keyplane: ${e.message}\n`);
      return EXIT_USAGE;
    }
    const message = e instanceof KeyplaneError ? `${e.message} [${e.code}]` : e instanceof Error ? e.message : String(e);
    if (json) process.stdout.write(`${JSON.stringify({ ok: false, code: e instanceof KeyplaneError ? e.code : 'error', message })}\n`);
    process.stderr.write(`keyplane: ${message}\n`);
    return EXIT_FAILURE;
  }
}

// A reader that goes away (`keyplane ... | head`) is not a failure: stop quietly instead of
// dying on EPIPE from an unhandled stream error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? EXIT_OK);
    throw e;
  });
}

// Leave via process.exitCode so pending stdout writes are flushed first.
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // A handle someone forgot to close must not keep a finished command alive.
    setTimeout(() => process.exit(code), 2000).unref();
  },
  () => {
    process.exitCode = EXIT_FAILURE;
  },
);
