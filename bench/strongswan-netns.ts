// Two strongSwan instances in two network namespaces joined by a veth pair, the reference
// peer of the benchmarks (../shared/interop.md): charon-systemd with kernel-libipsec
// (openssl early in `load =`), PSK, aes128-sha256-x25519 for IKE, aes128gcm16-x25519 for
// the CHILD_SA 'net' between the two inner networks, ESP in UDP/4500 (encap). Each charon
// gets its own strongswan.conf, swanctl.conf and vici socket in a temporary folder.
// Used by bench/e2e-throughput.ts and bench/settings-strongswan.ts. Needs root.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createNetnsPair, INNER, OUTER, type NetnsPair } from '../test/netns/netns-harness.js';
import { tempDir } from '../test/netns/e2e-setup.js';

export type Side = 'a' | 'b';

export interface StrongswanPair {
  readonly pair: NetnsPair;
  // charon A and B, in that order (their pids, for CPU accounting).
  readonly daemons: readonly ChildProcess[];
  viciSocket(me: Side): string;
  // Runs swanctl against one side's charon (its strongswan.conf names the vici socket);
  // resolves with its output.
  swanctl(me: Side, args: readonly string[]): Promise<string>;
  // Stops both charons (SIGTERM, SIGKILL after 500 ms), removes the namespaces and files.
  stop(): Promise<void>;
}

export interface StrongswanPairOptions {
  // charon's stderr log level (filelog stderr default): 0 for timing runs, 1 to see
  // more when a daemon dies (its last 4000 characters are printed).
  readonly logLevel: 0 | 1;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function strongswanConf(dir: string, logLevel: number): string {
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
      default = ${logLevel}
    }
  }
}
swanctl {
  socket = unix://${dir}/run/charon.vici
}
`;
}

function swanctlConf(me: Side, secret: string): string {
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

// Creates the namespaces, starts charon in each, waits for its vici socket (up to 10 s)
// and loads its swanctl.conf. On failure everything started so far is stopped.
export async function startStrongswanPair(o: StrongswanPairOptions): Promise<StrongswanPair> {
  const pair = await createNetnsPair();
  const dir = tempDir();
  const daemons: ChildProcess[] = [];
  const folder = (me: Side): string => join(dir.path, me);
  const confOf: Record<Side, string> = { a: join(folder('a'), 'strongswan.conf'), b: join(folder('b'), 'strongswan.conf') };
  const stop = async (): Promise<void> => {
    for (const d of daemons) d.kill('SIGTERM');
    await sleep(500);
    for (const d of daemons) if (d.exitCode === null) d.kill('SIGKILL');
    await pair.destroy();
    dir.remove();
  };
  const s: StrongswanPair = {
    pair,
    daemons,
    viciSocket: (me) => join(folder(me), 'run', 'charon.vici'),
    swanctl: (me, args) => runSwanctl(confOf[me], args),
    stop,
  };
  try {
    const secret = `bench-${process.pid}-a-long-random-test-secret`;
    for (const [me, ns] of [
      ['a', pair.a],
      ['b', pair.b],
    ] as const) {
      const d = folder(me);
      mkdirSync(join(d, 'run'), { recursive: true });
      writeFileSync(confOf[me], strongswanConf(d, o.logLevel));
      writeFileSync(join(d, 'swanctl.conf'), swanctlConf(me, secret), { mode: 0o600 });
      const child = spawn('ip', ['netns', 'exec', ns, '/usr/sbin/charon-systemd'], {
        env: { ...process.env, STRONGSWAN_CONF: confOf[me] },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let log = '';
      child.stderr?.on('data', (c: Buffer) => (log = (log + c.toString()).slice(-4000)));
      child.on('exit', (code) => code && console.error(`charon ${me} exited ${code}: ${log}`));
      daemons.push(child);
      for (let i = 0; i < 100 && !existsSync(s.viciSocket(me)); i++) await sleep(100);
      await s.swanctl(me, ['--load-all', '--file', join(d, 'swanctl.conf')]);
    }
    return s;
  } catch (e) {
    await stop();
    throw e;
  }
}
