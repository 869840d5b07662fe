// The reference for the first-packet benchmark: IKEv2 setup time between two strongSwan
// instances (charon-systemd + kernel-libipsec) in two network namespaces joined by a veth
// pair, set up by bench/strongswan-netns.ts as for bench/e2e-throughput.ts
// (../shared/interop.md): PSK, aes128-sha256-x25519 for IKE, aes128gcm16-x25519 for the
// CHILD_SA, ESP in UDP/4500.
//
// One setup = initiate the CHILD_SA 'net' from A until it is established (IKE_SA_INIT +
// IKE_AUTH, the CHILD_SA installed in both libipsec data planes), timed two ways:
//   - vici: our own connection to A's vici socket (settings-vici.ts), `initiate` with a
//     timeout, which answers once the CHILD_SA is up;
//   - swanctl: the wall time of a `swanctl --initiate --child net` process, start to exit
//     (includes starting the process, about 12-16 ms here).
// Between setups the IKE_SA is terminated (vici `terminate`, waits for the DELETE
// exchange), so every setup is a fresh IKE_SA with a fresh X25519 exchange.
import { startStrongswanPair } from './strongswan-netns.js';
import { ViciClient } from './settings-vici.js';
import { sleep } from './settings-stats.js';

export interface StrongswanSetupResult {
  readonly viciMs: number[];
  readonly swanctlMs: number[];
  readonly failures: number;
  readonly version: string;
}

// `setups` timed setups of each kind (after `warmup` untimed ones), alternating vici and
// swanctl so that both see the same machine load.
export async function measureStrongswanSetup(setups: number, warmup = 3): Promise<StrongswanSetupResult> {
  const ss = await startStrongswanPair({ logLevel: 0 });
  let vici: ViciClient | null = null;
  try {
    const version = (await ss.swanctl('a', ['--version'])).trim().split('\n')[0] ?? 'strongSwan';
    vici = await ViciClient.connect(ss.viciSocket('a'));
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
        await ss.swanctl('a', ['--initiate', '--child', 'net', '--ike', 'c', '--timeout', '10']);
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
    await ss.stop();
  }
}
