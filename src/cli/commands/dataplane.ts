// `keyplane dataplane run|status`: the userspace data plane with manually keyed SAs, and
// a look at a running one through its control socket.

import type { Command } from 'commander';
import { loadManualKeyingConfig, type ManualKeyingConfig, type ManualSa } from '../../config/manual-keying.js';
import { DEFAULT_CONTROL_SOCKET } from '../../config/schema.js';
import type { DataPlane, DataPlaneEvent } from '../../ipsec/dataplane.js';
import type { Policy } from '../../ipsec/types.js';
import { controlRequest, startControlServer, type ControlServer } from '../control-socket.js';
import { createLogger, type Logger } from '../log.js';
import { collectStatus, formatStatus, selectorText, spiHex, type DataplaneStatus } from '../status.js';

export function describeSa(sa: ManualSa): string {
  const c = sa.config;
  const algs = [sa.encryption, sa.integrity].filter((a) => a !== undefined).join('+');
  const [from, to] = c.direction === 'out' ? [c.localAddress, c.remoteAddress] : [c.remoteAddress, c.localAddress];
  const udp = c.encap ? ` udp ${c.encap.localPort}/${c.encap.remotePort}` : '';
  return `SA ${c.direction} spi ${spiHex(c.spi)} policy ${sa.policy}: ${algs}, ${c.mode} ${from} -> ${to}${udp}${c.esn ? ', ESN' : ''}`;
}

export function describePolicy(p: Policy): string {
  const tunnel = p.protect ? `, ${p.protect.mode} ${p.protect.localTunnel ?? '?'} -> ${p.protect.remoteTunnel}` : '';
  return `policy ${p.id} (priority ${p.priority}): ${p.action} ${selectorText(p.selector)}${tunnel}`;
}

function describeEvent(e: DataPlaneEvent): string {
  switch (e.type) {
    case 'acquire':
      return `acquire: policy ${e.policyId} matched a packet but has no outbound SA (dropped)`;
    case 'soft-expire':
      return `soft lifetime reached: SA ${e.direction} spi ${spiHex(e.spi)} (manual keying cannot rekey: install new keys)`;
    case 'hard-expire':
      return `hard lifetime reached: SA ${e.direction} spi ${spiHex(e.spi)} removed`;
    case 'unknown-spi':
      return `ESP from ${e.remoteAddress} for unknown spi ${spiHex(e.spi)} (dropped; the peer uses SAs this end does not have)`;
  }
}

function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (sig: NodeJS.Signals) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(sig);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

// Installs everything, serves status, and runs until SIGINT/SIGTERM. Exported so the
// caller can choose the log stream; resolves when cleaned up.
export async function runDataplane(cfg: ManualKeyingConfig, log: Logger, options: { controlSocket?: string } = {}): Promise<void> {
  for (const w of cfg.warnings) log.warn(w);
  const started = Date.now();
  const d = cfg.dataplane;
  // Loaded on use: the data plane pulls in the native TUN/UDP addon, which commands like
  // keygen and config check must not need.
  const { createUserspaceDataPlane } = await import('../../dataplane/userspace.js');
  const dataplane = await createUserspaceDataPlane({
    tunName: d.tunName,
    mtu: d.mtu,
    localAddress: d.localAddress,
    port: d.port,
    natKeepaliveMs: d.natKeepaliveSeconds * 1000,
    udpBackend: d.udpBackend,
    udpOffload: d.udpOffload,
    tunOffload: d.tunOffload,
  });
  let server: ControlServer | undefined;
  let unsubscribe: (() => void) | undefined;
  const signal = waitForSignal();
  try {
    log.info(`data plane up: TUN ${dataplane.tunName} (MTU ${d.mtu}), ESP in UDP on ${d.localAddress}:${d.port}`);
    unsubscribe = dataplane.on((e: DataPlaneEvent) => log.warn(describeEvent(e)));
    await install(dataplane, cfg, log);
    for (const r of dataplane.routes()) log.info(`route ${r}`);
    const socketPath = options.controlSocket ?? d.controlSocket;
    server = await startControlServer(socketPath, async (req) => {
      if (req.method === 'status') return collectStatus(dataplane, cfg, { tunName: dataplane.tunName, startedAtMs: started, routes: dataplane.routes() });
      throw new Error(`unknown method "${req.method}"`);
    });
    log.info(`ready: ${cfg.policies.length} policies, ${cfg.sas.length} SAs; status: keyplane dataplane status --socket ${socketPath}`);
    const sig = await signal;
    log.info(`${sig}: shutting down`);
  } finally {
    unsubscribe?.();
    await server?.close();
    await dataplane.close();
    log.info('stopped; TUN device and routes removed');
  }
}

async function install(dataplane: DataPlane, cfg: ManualKeyingConfig, log: Logger): Promise<void> {
  for (const p of cfg.policies) {
    await dataplane.installPolicy(p);
    log.info(`installed ${describePolicy(p)}`);
  }
  for (const sa of cfg.sas) {
    await dataplane.installSa(sa.config);
    log.info(`installed ${describeSa(sa)}`);
  }
}

async function status(options: { socket?: string; config?: string; json?: boolean }): Promise<void> {
  const path = options.socket ?? (options.config ? loadManualKeyingConfig(options.config).dataplane.controlSocket : DEFAULT_CONTROL_SOCKET);
  const result = (await controlRequest(path, 'status')) as DataplaneStatus;
  process.stdout.write(options.json ? `${JSON.stringify(result, null, 2)}\n` : `${formatStatus(result)}\n`);
}

export function registerDataplane(program: Command): void {
  const dp = program.command('dataplane').description('the userspace ESP data plane (TUN + ESP in UDP/4500) with manually keyed SAs');
  dp.command('run')
    .description('start the data plane with the SAs and policies of a config file; runs until SIGINT/SIGTERM')
    .requiredOption('-c, --config <file>', 'manual-keying config file (docs/configuration.md)')
    .option('--control-socket <path>', 'override dataplane.controlSocket of the config')
    .addHelpText(
      'after',
      '\nLogs go to stderr: each installed policy and SA (SPI and algorithms, never keys) and\n' +
        'lifetime events. On SIGINT/SIGTERM the TUN device, its routes and the control socket\n' +
        'are removed. Needs root (or CAP_NET_ADMIN) for the TUN device.\n\n' +
        'Example:\n  keyplane dataplane run --config /etc/keyplane/dataplane.yaml',
    )
    .action(async (opts: { config: string; controlSocket?: string }) => {
      const cfg = loadManualKeyingConfig(opts.config);
      await runDataplane(cfg, createLogger(), opts.controlSocket !== undefined ? { controlSocket: opts.controlSocket } : {});
    });
  dp.command('status')
    .description('show SAs (SPIs, algorithms, byte/packet counters; no keys), policies and drop counters of a running data plane')
    .option('-s, --socket <path>', `control socket of the running data plane (default ${DEFAULT_CONTROL_SOCKET})`)
    .option('-c, --config <file>', 'take the control socket path from this config file')
    .option('--json', 'print the status as JSON')
    .action(status);
}
