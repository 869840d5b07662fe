// The UDP shell (src/io/udp.ts) with real sockets on loopback: batched send/receive on
// both backends and across them, including the native backend's segmentation offload
// (UDP_SEGMENT on send, UDP_GRO on receive), which must hand back exactly the datagrams
// that were sent, in order, with their source.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { openUdp, type UdpBackend, type UdpSocket } from '../../src/io/udp.js';
import { IoError } from '../../src/io/errors.js';

interface Received {
  data: Buffer;
  address: string;
  port: number;
}

function collect(socket: UdpSocket): Received[] {
  const got: Received[] = [];
  socket.start((batch) => {
    for (let i = 0; i < batch.count; i++) {
      assert.equal(batch.truncated(i), false);
      got.push({ data: Buffer.from(batch.data(i)), ...batch.from(i) });
    }
  });
  return got;
}

async function until(f: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 3000;
  while (!f()) {
    if (Date.now() > end) assert.fail(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const combos: [UdpBackend, boolean, UdpBackend, boolean][] = [
  ['native', true, 'native', true],
  ['native', false, 'native', false],
  ['native', true, 'dgram', false],
  ['dgram', false, 'native', true],
  ['dgram', false, 'dgram', false],
];

for (const host of ['127.0.0.1', '::1']) {
  for (const [sb, so, rb, ro] of combos) {
    test(`${host}: ${sb}${so ? '+GSO' : ''} -> ${rb}${ro ? '+GRO' : ''}: every datagram arrives intact, in order, with its source`, async () => {
      const sender = await openUdp({ address: host, port: 0, backend: sb, offload: so });
      const receiver = await openUdp({ address: host, port: 0, backend: rb, offload: ro });
      try {
        const got = collect(receiver);
        const to = sender.peer(host, receiver.port);
        // Runs of equal sizes (what GSO groups), a shorter tail, then odd sizes.
        const sizes = [...Array(40).fill(1400), 700, ...Array(20).fill(100), 1, 9000, 1400, 1400];
        const packets = sizes.map((n) => randomBytes(n));
        const sent = sender.send(packets, packets.map(() => to));
        assert.equal(sent, packets.length);
        await until(() => got.length >= packets.length, `${packets.length} datagrams`);
        await new Promise((r) => setTimeout(r, 50));
        assert.equal(got.length, packets.length);
        for (const [i, g] of got.entries()) {
          assert.ok(g.data.equals(packets[i]!), `datagram ${i} differs`);
          assert.equal(g.address, host);
          assert.equal(g.port, sender.port);
        }
      } finally {
        await sender.close();
        await receiver.close();
      }
    });
  }
}

test('bad addresses and ports are IoErrors', async () => {
  await assert.rejects(openUdp({ address: 'not-an-ip', port: 0 }), (e: unknown) => e instanceof IoError && e.code === 'udp-address');
  await assert.rejects(openUdp({ address: '127.0.0.1', port: 70000 }), (e: unknown) => e instanceof IoError && e.code === 'udp-address');
  for (const backend of ['native', 'dgram'] as const) {
    const s = await openUdp({ address: '127.0.0.1', port: 0, backend });
    try {
      await assert.rejects(openUdp({ address: '127.0.0.1', port: s.port, backend }), (e: unknown) => {
        assert.ok(e instanceof IoError);
        assert.equal(e.code, 'udp-bind');
        assert.match(e.message, /in use.*EADDRINUSE/);
        return true;
      });
      assert.throws(() => s.peer('999.1.1.1', 1), (e: unknown) => e instanceof IoError && e.code === 'udp-address');
    } finally {
      await s.close();
    }
    assert.equal(s.send([Buffer.from('x')], [s.peer('127.0.0.1', 9)]), 0); // closed: nothing sent
  }
});
