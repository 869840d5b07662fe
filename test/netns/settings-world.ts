// A small seed-000 world in network namespaces for end-to-end tests (root, one test file
// at a time): a controller namespace holding a bridge (the "Internet"), and gateway
// namespaces attached to it, each with a protected address on its loopback.
//
//   ctl: bridge kpbr, 192.0.2.10/24          controller on UDP 4501, admin API on 127.0.0.1
//   gw i: veth 192.0.2.(i+1)/24, protected 10.(i+1).0.1/24 on lo, agent + userspace data plane
//
// Everything runs as real `keyplane` processes; destroy() kills them and deletes the
// namespaces (veths, TUN devices and routes go with them).
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { run, type ExecResult } from './netns-harness.js';
import { keyplane, startKeyplane, statusDirect, type Proc } from '../keyroll-proc/procs.js';
import { tempDir, type TempDir } from '../keyroll-proc/helpers.js';
import type { AgentStatus } from '../../src/agent/keyroll-status.js';

export const CONTROLLER_ADDRESS = '192.0.2.10';
export const CONTROL_PORT = 4501;

export interface Gateway {
  readonly name: string;
  readonly ns: string;
  readonly outer: string; // IPsec address
  readonly inner: string; // protected address (on lo)
  readonly net: string; // protected prefix
  agent: Proc | null;
  readonly socket: string;
  readonly config: string;
}

let serial = 0;

export class SettingsWorld {
  readonly dir: TempDir;
  readonly ctl: string;
  readonly gateways: Gateway[] = [];
  controller: Proc | null = null;
  readonly id: string;

  private constructor() {
    this.id = `${process.pid % 100000}x${serial++}`;
    this.dir = tempDir();
    this.ctl = `kpC${this.id}`;
  }

  path(name: string): string {
    return join(this.dir.path, name);
  }

  get store(): string[] {
    return ['--store', this.path('c.db'), '--master-key', this.path('m.key')];
  }

  static async create(gatewayCount: number): Promise<SettingsWorld> {
    const w = new SettingsWorld();
    await run('ip', ['netns', 'add', w.ctl]);
    await w.exec(w.ctl, 'ip', ['link', 'set', 'lo', 'up']);
    await w.exec(w.ctl, 'ip', ['link', 'add', 'kpbr', 'type', 'bridge']);
    await w.exec(w.ctl, 'ip', ['addr', 'add', `${CONTROLLER_ADDRESS}/24`, 'dev', 'kpbr']);
    await w.exec(w.ctl, 'ip', ['link', 'set', 'kpbr', 'up']);
    for (let i = 0; i < gatewayCount; i++) {
      const name = String.fromCharCode(97 + i);
      const ns = `kpG${name}${w.id}`;
      const outer = `192.0.2.${i + 1}`;
      const inner = `10.${i + 1}.0.1`;
      await run('ip', ['netns', 'add', ns]);
      const here = `kv${name}${w.id}`.slice(0, 15);
      const there = `kw${name}${w.id}`.slice(0, 15);
      await run('ip', ['link', 'add', here, 'netns', ns, 'type', 'veth', 'peer', 'name', there, 'netns', w.ctl]);
      await w.exec(w.ctl, 'ip', ['link', 'set', there, 'master', 'kpbr']);
      await w.exec(w.ctl, 'ip', ['link', 'set', there, 'up']);
      await w.exec(ns, 'ip', ['link', 'set', 'lo', 'up']);
      await w.exec(ns, 'ip', ['addr', 'add', `${outer}/24`, 'dev', here]);
      await w.exec(ns, 'ip', ['addr', 'add', `${inner}/24`, 'dev', 'lo']);
      await w.exec(ns, 'ip', ['link', 'set', here, 'up']);
      w.gateways.push({ name, ns, outer, inner, net: `10.${i + 1}.0.0/24`, agent: null, socket: w.path(`${name}.sock`), config: w.path(`${name}.yaml`) });
    }
    return w;
  }

  exec(ns: string, cmd: string, args: readonly string[], timeoutMs?: number): Promise<ExecResult> {
    return run('ip', ['netns', 'exec', ns, cmd, ...args], timeoutMs);
  }

  async startController(extra: readonly string[] = []): Promise<Proc> {
    this.controller = startKeyplane(
      [
        'controller', 'run', ...this.store,
        '--listen', `${CONTROLLER_ADDRESS}:${CONTROL_PORT}`,
        '--admin-listen', '127.0.0.1:4580',
        '--admin-token-file', this.path('admin.token'),
        '--refresh-seconds', '0.5',
        '--control-socket', this.path('c.sock'),
        ...extra,
      ],
      ['ip', 'netns', 'exec', this.ctl],
    );
    await this.controller.ready;
    return this.controller;
  }

  // Enrolls every gateway with its outer address and writes its agent config: each
  // gateway protects traffic from its inner address to every other gateway's network.
  async enroll(settings: Readonly<Record<string, number>> = {}): Promise<void> {
    for (const g of this.gateways) {
      const add = await keyplane(['device', 'add', `gw-${g.name}`, ...this.store, '--address', g.outer, '--controller-address', CONTROLLER_ADDRESS, '--controller-port', String(CONTROL_PORT)]);
      if (add.code !== 0) throw new Error(`device add: ${add.stderr}`);
      const enroll = await keyplane(['agent', 'enroll', add.stdout.trim(), '--file', this.path(`${g.name}.json`)]);
      if (enroll.code !== 0) throw new Error(`agent enroll: ${enroll.stderr}`);
      const protect = this.gateways
        .filter((o) => o !== g)
        .map((o) => `  - name: to-${o.name}\n    peer: ${o.outer}\n    local: [${g.inner}/32]\n    remote: [${o.net}]\n`)
        .join('');
      const tuning = Object.entries(settings).map(([k, v]) => `  ${k}: ${v}\n`).join('');
      writeFileSync(
        g.config,
        `enrollment: ${this.path(`${g.name}.json`)}\nstate: ${this.path(`${g.name}-state.json`)}\nmode: pc\naddress: ${g.outer}\n` +
          `registrationSeconds: 2\ndataplane: { tun: kp${g.name}0 }\nprotect:\n${protect}` +
          (tuning === '' ? '' : `settings:\n${tuning}`),
        { mode: 0o600 },
      );
    }
  }

  async startAgent(g: Gateway): Promise<Proc> {
    g.agent = startKeyplane(['agent', 'run', '--config', g.config, '--reply-timeout-seconds', '1', '--control-socket', g.socket], ['ip', 'netns', 'exec', g.ns]);
    await g.agent.ready;
    return g.agent;
  }

  agentStatus(g: Gateway): Promise<AgentStatus> {
    return statusDirect<AgentStatus>(g.socket);
  }

  async cli(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return keyplane([...args, '--api', 'http://127.0.0.1:4580', '--token-file', this.path('admin.token')], ['ip', 'netns', 'exec', this.ctl]);
  }

  async destroy(): Promise<void> {
    for (const ns of [this.ctl, ...this.gateways.map((g) => g.ns)]) await run('ip', ['netns', 'del', ns]).catch(() => undefined);
    this.dir.remove();
  }
}
