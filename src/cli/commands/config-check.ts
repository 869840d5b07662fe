// `keyplane config check FILE`: validates a manual-keying config and prints a summary
// (never keys). A bad file exits with code 2 and lists every problem.

import type { Command } from 'commander';
import { loadManualKeyingConfig, type ManualKeyingConfig } from '../../config/manual-keying.js';
import { selectorText, spiHex } from '../status.js';

export function configSummary(cfg: ManualKeyingConfig) {
  return {
    ok: true,
    file: cfg.file,
    dataplane: cfg.dataplane,
    policies: cfg.policies.map((p) => ({
      name: p.id,
      priority: p.priority,
      action: p.action,
      selector: selectorText(p.selector),
      mode: p.protect?.mode ?? null,
      localTunnel: p.protect?.localTunnel ?? null,
      remoteTunnel: p.protect?.remoteTunnel ?? null,
    })),
    sas: cfg.sas.map((s) => ({
      name: s.name ?? null,
      policy: s.policy,
      direction: s.config.direction,
      spi: spiHex(s.config.spi),
      mode: s.config.mode,
      localAddress: s.config.localAddress,
      remoteAddress: s.config.remoteAddress,
      udpPorts: s.config.encap ? `${s.config.encap.localPort}->${s.config.encap.remotePort}` : null,
      encryption: s.encryption,
      integrity: s.integrity ?? null,
      esn: s.config.esn,
      replayWindow: s.config.replayWindow,
      lifetime: s.config.lifetime,
    })),
    warnings: cfg.warnings,
  };
}

export function formatSummary(cfg: ManualKeyingConfig): string {
  const d = cfg.dataplane;
  const lines = [
    `${cfg.file}: OK`,
    `data plane: ${d.backend}, TUN ${d.tunName} (MTU ${d.mtu}), ESP in UDP on ${d.localAddress}:${d.port}, NAT keepalive ${d.natKeepaliveSeconds === 0 ? 'off' : `${d.natKeepaliveSeconds} s`}, control socket ${d.controlSocket}`,
    `policies (${cfg.policies.length}):`,
    ...cfg.policies.map(
      (p) =>
        `  ${p.id}: priority ${p.priority}, ${p.action} ${selectorText(p.selector)}` +
        (p.protect ? `, ${p.protect.mode} ${p.protect.localTunnel ?? '?'} -> ${p.protect.remoteTunnel}` : ''),
    ),
    `SAs (${cfg.sas.length}):`,
    ...cfg.sas.map(
      (s) =>
        `  ${s.config.direction.padEnd(3)} spi ${spiHex(s.config.spi)} policy ${s.policy}: ${[s.encryption, s.integrity].filter(Boolean).join('+')}, ` +
        `${s.config.mode}, ${s.config.localAddress} <-> ${s.config.remoteAddress}` +
        (s.config.esn ? ', ESN' : '') +
        (s.config.direction === 'in' ? `, replay window ${s.config.replayWindow}` : ''),
    ),
    ...cfg.warnings.map((w) => `warning: ${w}`),
  ];
  return lines.join('\n');
}

export function registerConfigCheck(program: Command): void {
  const config = program.command('config').description('work with keyplane config files');
  config
    .command('check')
    .description('validate a manual-keying config file and print a summary (no keys)')
    .argument('<file>', 'the config file (YAML or JSON)')
    .option('--json', 'print the summary (or the list of problems) as JSON')
    .addHelpText('after', '\nExit codes: 0 valid, 2 invalid (every problem is listed with its field path).\nReference: docs/configuration.md')
    .action((file: string, opts: { json?: boolean }) => {
      const cfg = loadManualKeyingConfig(file);
      process.stdout.write(opts.json ? `${JSON.stringify(configSummary(cfg), null, 2)}\n` : `${formatSummary(cfg)}\n`);
    });
}
