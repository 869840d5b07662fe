// Runs one userspace data plane with static SAs and policies (manual keying) until told
// to stop. Started by the netns tests inside a namespace:
//   node dist/test/netns/dp-node.js --json FILE     SaConfig/Policy objects, keys in hex
//   node dist/test/netns/dp-node.js --config FILE   keyplane's manual-keying config file
// Prints "READY {tunName, port, routes}" once everything is installed. Reads commands on
// stdin: "counters" prints "COUNTERS {...}", "close" closes and prints the final counters.

import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { createUserspaceDataPlane, type UserspaceDataPlaneOptions } from '../../src/dataplane/userspace.js';
import type { Policy, SaConfig } from '../../src/ipsec/types.js';

interface JsonSa extends Omit<SaConfig, 'encryption' | 'integrity'> {
  readonly encryption: { readonly id: number; readonly keyBits: number; readonly keyMaterial: string };
  readonly integrity?: { readonly id: number; readonly key: string };
}

export interface DpNodeJson {
  readonly dataplane: UserspaceDataPlaneOptions;
  readonly policies: readonly Policy[];
  readonly sas: readonly JsonSa[];
}

async function load(argv: string[]): Promise<{ options: UserspaceDataPlaneOptions; policies: readonly Policy[]; sas: SaConfig[] }> {
  const [flag, file] = argv;
  if (flag === '--config' && file) {
    // The user-facing manual-keying file (src/config), loaded the way the CLI does.
    const { loadManualKeyingConfig } = await import('../../src/config/manual-keying.js');
    const cfg = loadManualKeyingConfig(file);
    return {
      options: {
        tunName: cfg.dataplane.tunName,
        mtu: cfg.dataplane.mtu,
        localAddress: cfg.dataplane.localAddress,
        port: cfg.dataplane.port,
        natKeepaliveMs: cfg.dataplane.natKeepaliveSeconds * 1000,
        udpBackend: cfg.dataplane.udpBackend,
        udpOffload: cfg.dataplane.udpOffload,
        tunOffload: cfg.dataplane.tunOffload,
      },
      policies: cfg.policies,
      sas: cfg.sas.map((s) => s.config),
    };
  }
  if (flag === '--json' && file) {
    const json = JSON.parse(readFileSync(file, 'utf8')) as DpNodeJson;
    const sas = json.sas.map(({ encryption, integrity, ...rest }): SaConfig => ({
      ...rest,
      encryption: { ...encryption, keyMaterial: Buffer.from(encryption.keyMaterial, 'hex') },
      ...(integrity ? { integrity: { ...integrity, key: Buffer.from(integrity.key, 'hex') } } : {}),
    }));
    return { options: json.dataplane, policies: json.policies, sas };
  }
  throw new Error('usage: dp-node --json FILE | --config FILE');
}

const { options, policies, sas } = await load(process.argv.slice(2));
const dp = await createUserspaceDataPlane(options);
for (const p of policies) await dp.installPolicy(p);
for (const sa of sas) await dp.installSa(sa);
process.stdout.write(`READY ${JSON.stringify({ tunName: dp.tunName, port: dp.port, routes: dp.routes() })}\n`);

let closing = false;
const close = async (): Promise<void> => {
  if (closing) return;
  closing = true;
  const counters = await dp.counters();
  await dp.close();
  process.stdout.write(`COUNTERS ${JSON.stringify(counters)}\n`);
  process.exit(0);
};
process.on('SIGTERM', () => void close());
process.on('SIGINT', () => void close());
const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const cmd = line.trim();
  if (cmd === 'counters') void dp.counters().then((c) => process.stdout.write(`COUNTERS ${JSON.stringify(c)}\n`));
  else if (cmd === 'close') void close();
});
rl.on('close', () => void close());
