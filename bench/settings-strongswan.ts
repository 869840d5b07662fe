// The reference for the first-packet benchmark: IKEv2 setup time between two strongSwan
// instances (charon-systemd + kernel-libipsec) in two network namespaces joined by a veth
// pair, set up as bench/e2e-throughput.ts does it (../shared/interop.md): PSK,
// aes128-sha256-x25519 for IKE, aes128gcm16-x25519 for the CHILD_SA, ESP in UDP/4500.
//
// One setup = initiate the CHILD_SA 'net' from A until it is established (IKE_SA_INIT +
// IKE_AUTH, the CHILD_SA installed in both libipsec data planes), timed two ways:
//   - vici: our own connection to A's vici socket (settings-vici.ts), `initiate` with a
//     timeout, which answers once the CHILD_SA is up;
//   - swanctl: the wall time of a `swanctl --initiate --child net` process, start to exit
//     (includes starting the process, about 12-16 ms here).
// Between setups the IKE_SA is terminated (vici `terminate`, waits for the DELETE
// exchange), so every setup is a fresh IKE_SA with a fresh X25519 exchange.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createNetnsPair, INNER, OUTER } from '../test/netns/netns-harness.js';
import { tempDir } from '../test/netns/e2e-setup.js';
import { ViciClient } from './settings-vici.js';
import { sleep } from './settings-stats.js';

export interface StrongswanSetupResult {
  readonly viciMs: number[];
  readonly swanctlMs: number[];
  readonly failures: number;
  readonly version: string;
}

function strongswanConf(dir: string): string {
  return `charon {
  load = random nonce openssl aes sha1 sha2 hmac gcm pem pkcs1 x509 revocation constraints pubkey curve25519 kdf kernel-libipsec kernel-netlink socket-default vici updown
  port = 500
  port_nat_t = 4500
  piddir = ${dir}/run
  plugins {
    vici {
      socket = unix://${dir}/run/charon.vici
    }
    kernel-libipsec {
      allow_peer_ts = yes
    }
  }
  filelog {
    stderr {
      default = 0
    }
  }
}
swanctl {
  socket = unix://${dir}/run/charon.vici
}
`;
}

function swanctlConf(me: 'a' | 'b', secret: string): string {
  const peer = me === 'a' ? 'b' : 'a';
  return `connections {
  c {
    version = 2
    local_addrs = ${OUTER[me].v4}
    remote_addrs = ${OUTER[peer].v4}
    encap = yes
    proposals = aes128-sha256-x25519
    local {
      auth = psk
      id = ${OUTER[me].v4}
    }
    remote {
      auth = psk
      id = ${OUTER[peer].v4}
    }
    children {
      net {
        local_ts = ${INNER[me].v4Net}
        remote_ts = ${INNER[peer].v4Net}
        esp_proposals = aes128gcm16-x25519
      }
    }
  }
}
secrets {
  ike-1 {
    id-1 = ${OUTER.a.v4}
    id-2 = ${OUTER.b.v4}
    secret = "${secret}"
  }
}
`;
}

function runSwanctl(conf: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn('swanctl', args, { env: { ...process.env, STRONGSWAN_CONF: conf } });
    let out = '';
    c.stdout.on('data', (x: Buffer) => (out += x.toString()));
    c.stderr.on('data', (x: Buffer) => (out += x.toString()));
    c.on('error', reject);
    c.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`swanctl ${args.join(' ')}: exit ${code}: ${out.slice(-500)}`))));
  });
}

// `setups` timed setups of each kind (after `warmup` untimed ones), alternating vici and
// swanctl so that both see the same machine load.
export async function measureStrongswanSetup(setups: number, warmup = 3): Promise<StrongswanSetupResult> {
  const pair = await createNetnsPair();
  const dir = tempDir();
  const daemons: ChildProcess[] = [];
  let vici: ViciClient | null = null;
  try {
    const secret = `bench-${process.pid}-a-long-random-test-secret`;
    const confOf: Record<'a' | 'b', string> = { a: '', b: '' };
    for (const [me, ns] of [
      ['a', pair.a],
      ['b', pair.b],
    ] as const) {
      const d = join(dir.path, me);
      mkdirSync(join(d, 'run'), { recursive: true });
      writeFileSync(join(d, 'strongswan.conf'), strongswanConf(d));
      writeFileSync(join(d, 'swanctl.conf'), swanctlConf(me, secret), { mode: 0o600 });
      confOf[me] = join(d, 'strongswan.conf');
      const child = spawn('ip', ['netns', 'exec', ns, '/usr/sbin/charon-systemd'], {
        env: { ...process.env, STRONGSWAN_CONF: confOf[me] },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let log = '';
      child.stderr?.on('data', (c: Buffer) => (log = (log + c.toString()).slice(-4000)));
      child.on('exit', (code) => code && console.error(`charon ${me} exited ${code}: ${log}`));
      daemons.push(child);
      const socket = join(d, 'run', 'charon.vici');
      for (let i = 0; i < 100 && !existsSync(socket); i++) await sleep(100);
      await runSwanctl(confOf[me], ['--load-all', '--file', join(d, 'swanctl.conf')]);
    }
    const version = (await runSwanctl(confOf.a, ['--version'])).trim().split('\n')[0] ?? 'strongSwan';
    vici = await ViciClient.connect(join(dir.path, 'a', 'run', 'charon.vici'));
    const v = vici;
    const terminate = async (): Promise<void> => {
      const r = await v.request('terminate', { ike: 'c', timeout: '5000' });
      // "no matching SAs" after a failed setup is fine; anything else is reported.
      if (r.success !== 'yes' && !/no matching/i.test(r.errmsg ?? '')) throw new Error(`terminate: ${r.errmsg ?? '?'}`);
      // Give B a moment to drop its side (it answers the DELETE before removing the SA).
      await sleep(20);
    };
    let failures = 0;
    const viaVici = async (): Promise<number | null> => {
      const t0 = performance.now();
      const r = await v.request('initiate', { child: 'net', ike: 'c', timeout: '10000' });
      const ms = performance.now() - t0;
      await terminate();
      if (r.success !== 'yes') {
        failures++;
        console.error(`strongSwan initiate failed: ${r.errmsg ?? '?'}`);
        return null;
      }
      return ms;
    };
    const viaSwanctl = async (): Promise<number | null> => {
      const t0 = performance.now();
      try {
        await runSwanctl(confOf.a, ['--initiate', '--child', 'net', '--ike', 'c', '--timeout', '10']);
      } catch (e) {
        failures++;
        console.error(String(e));
        await terminate();
        return null;
      }
      const ms = performance.now() - t0;
      await terminate();
      return ms;
    };
    for (let i = 0; i < warmup; i++) {
      await viaVici();
      await viaSwanctl();
    }
    failures = 0;
    const viciMs: number[] = [];
    const swanctlMs: number[] = [];
    for (let i = 0; i < setups; i++) {
      const a = await viaVici();
      if (a !== null) viciMs.push(a);
      const b = await viaSwanctl();
      if (b !== null) swanctlMs.push(b);
    }
    return { viciMs, swanctlMs, failures, version };
  } finally {
    vici?.close();
    for (const d of daemons) d.kill('SIGTERM');
    await sleep(500);
    for (const d of daemons) if (d.exitCode === null) d.kill('SIGKILL');
    await pair.destroy();
    dir.remove();
  }
}
