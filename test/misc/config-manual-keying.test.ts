// Valid manual-keying configs convert exactly into the ipsec layer's Policy and SaConfig.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadManualKeyingConfig, parseManualKeyingConfig } from '../../src/config/manual-keying.js';
import { ENCR, INTEG } from '../../src/crypto/types.js';
import { CBC256_KEY, GCM128_KEY, SHA256_KEY, tempDir } from './config-helpers.js';

const GATEWAY_A = `
# site A: 10.1.0.0/24 behind 192.0.2.1
dataplane:
  tunName: kpa0
  mtu: 1380
  localAddress: 192.0.2.1
  port: 4500
  natKeepaliveSeconds: 0
  controlSocket: /tmp/kp-a.sock
  udpBackend: dgram
  udpOffload: false
policies:
  - name: a-b
    priority: 10
    action: protect
    local: 10.1.0.0/24
    remote: 10.2.0.0/24
    mode: tunnel
    remoteTunnel: 192.0.2.2
  - name: ssh-clear
    priority: 5
    action: bypass
    local: 10.1.0.10
    remote: 10.2.0.1-10.2.0.9
    protocol: tcp
    localPorts: any
    remotePorts: "22"
  - name: no-ping
    priority: 6
    action: discard
    protocol: icmp
    icmpType: 8
    icmpCode: 0
sas:
  - name: a-to-b
    policy: a-b
    direction: out
    spi: 0x1001
    encryption:
      algorithm: aes128gcm16
      key: "0x${GCM128_KEY}"
    lifetime:
      soft: { seconds: 3000, bytes: 1000000000 }
      hard: { seconds: 3600, packets: 4000000000 }
  - policy: a-b
    direction: in
    spi: "0x00002001"
    encryption:
      algorithm: AES256
      key: "${CBC256_KEY.match(/../g)!.join(':')}"
    integrity:
      algorithm: sha256
      key: "${SHA256_KEY}"
    esn: true
    replayWindow: 128
`;

test('a full config converts to the exact policies and SAs', () => {
  const cfg = parseManualKeyingConfig(GATEWAY_A, { file: 'a.yaml', fileMode: 0o100600 });
  assert.equal(cfg.file, 'a.yaml');
  assert.deepEqual(cfg.dataplane, {
    backend: 'userspace',
    tunName: 'kpa0',
    mtu: 1380,
    localAddress: '192.0.2.1',
    port: 4500,
    natKeepaliveSeconds: 0,
    controlSocket: '/tmp/kp-a.sock',
    udpBackend: 'dgram',
    udpOffload: false,
    tunOffload: true,
  });
  const aToB = {
    id: 'a-b',
    priority: 10,
    action: 'protect',
    selector: {
      local: { start: '10.1.0.0', end: '10.1.0.255' },
      remote: { start: '10.2.0.0', end: '10.2.0.255' },
    },
    protect: { mode: 'tunnel', localTunnel: '192.0.2.1', remoteTunnel: '192.0.2.2' },
  };
  assert.deepEqual(cfg.policies, [
    aToB,
    {
      id: 'ssh-clear',
      priority: 5,
      action: 'bypass',
      selector: {
        local: { start: '10.1.0.10', end: '10.1.0.10' },
        remote: { start: '10.2.0.1', end: '10.2.0.9' },
        protocol: 6,
        remotePorts: { start: 22, end: 22 },
      },
    },
    {
      id: 'no-ping',
      priority: 6,
      action: 'discard',
      // RFC 4301 §4.4.1.1: ICMP type and code travel in the port fields.
      selector: { protocol: 1, localPorts: { start: 8, end: 8 }, remotePorts: { start: 0, end: 0 } },
    },
  ]);
  assert.equal(cfg.sas.length, 2);
  const [out, inb] = cfg.sas;
  assert.deepEqual(out, {
    name: 'a-to-b',
    policy: 'a-b',
    encryption: 'aes128gcm16',
    integrity: undefined,
    config: {
      spi: 0x1001,
      direction: 'out',
      mode: 'tunnel',
      localAddress: '192.0.2.1',
      remoteAddress: '192.0.2.2',
      encap: { localPort: 4500, remotePort: 4500 },
      encryption: { id: ENCR.AES_GCM_16, keyBits: 128, keyMaterial: Buffer.from(GCM128_KEY, 'hex') },
      esn: false,
      replayWindow: 1024,
      lifetime: { soft: { seconds: 3000, bytes: 1000000000 }, hard: { seconds: 3600, packets: 4000000000 } },
      selector: aToB.selector,
      policyId: 'a-b',
    },
  });
  assert.deepEqual(inb, {
    name: undefined,
    policy: 'a-b',
    encryption: 'aes256',
    integrity: 'sha256',
    config: {
      spi: 0x2001,
      direction: 'in',
      mode: 'tunnel',
      localAddress: '192.0.2.1',
      remoteAddress: '192.0.2.2',
      encap: { localPort: 4500, remotePort: 4500 },
      encryption: { id: ENCR.AES_CBC, keyBits: 256, keyMaterial: Buffer.from(CBC256_KEY, 'hex') },
      integrity: { id: INTEG.HMAC_SHA2_256_128, key: Buffer.from(SHA256_KEY, 'hex') },
      esn: true,
      replayWindow: 128,
      lifetime: { soft: {}, hard: {} },
      selector: aToB.selector,
      policyId: 'a-b',
    },
  });
  assert.deepEqual(cfg.warnings, []);
});

test('defaults: minimal config gets the documented defaults', () => {
  const cfg = parseManualKeyingConfig(
    `dataplane: { localAddress: "2001:DB8:0:0::1" }
policies:
  - { name: p, action: protect, remote: "2001:db8:2::/48", remoteTunnel: "2001:db8::0:2", remotePort: 14500 }
sas:
  - { policy: p, direction: out, spi: 4096, encryption: { algorithm: chacha20poly1305, key: "${'ab'.repeat(36)}" } }
`,
    { file: 'min.yaml' },
  );
  assert.deepEqual(cfg.dataplane, {
    backend: 'userspace',
    tunName: 'keyplane0',
    mtu: 1400,
    localAddress: '2001:db8::1', // RFC 5952 canonical form
    port: 4500,
    natKeepaliveSeconds: 20,
    controlSocket: '/run/keyplane/dataplane.sock',
    udpBackend: 'native',
    udpOffload: true,
    tunOffload: true,
  });
  assert.deepEqual(cfg.policies, [
    {
      id: 'p',
      priority: 1000,
      action: 'protect',
      selector: { remote: { start: '2001:db8:2::', end: '2001:db8:2:ffff:ffff:ffff:ffff:ffff' } },
      protect: { mode: 'tunnel', localTunnel: '2001:db8::1', remoteTunnel: '2001:db8::2' },
    },
  ]);
  const sa = cfg.sas[0]!.config;
  assert.deepEqual(sa.encap, { localPort: 4500, remotePort: 14500 });
  assert.deepEqual(sa.encryption, { id: ENCR.CHACHA20_POLY1305, keyBits: 256, keyMaterial: Buffer.alloc(36, 0xab) });
  assert.equal(sa.replayWindow, 1024);
  assert.equal(sa.esn, false);
  assert.deepEqual(sa.lifetime, { soft: {}, hard: {} });
  // No inbound SA: legal, but worth a warning.
  assert.deepEqual(cfg.warnings, [`policy "p" has no inbound SA: the peer's packets for it cannot be decrypted`]);
});

test('JSON is accepted (YAML 1.2 is a superset of JSON)', () => {
  const json = JSON.stringify({
    dataplane: { localAddress: '192.0.2.1' },
    policies: [{ name: 'p', action: 'protect', mode: 'transport', remoteTunnel: '192.0.2.2' }],
    sas: [{ policy: 'p', direction: 'in', spi: '300', encryption: { algorithm: 'aes256gcm16', key: '11'.repeat(36) } }],
  });
  const cfg = parseManualKeyingConfig(json, { file: 'c.json' });
  assert.equal(cfg.sas[0]!.config.mode, 'transport');
  assert.equal(cfg.sas[0]!.config.spi, 300);
  assert.deepEqual(cfg.sas[0]!.config.encryption, { id: ENCR.AES_GCM_16, keyBits: 256, keyMaterial: Buffer.alloc(36, 0x11) });
});

test('keyFile: read relative to the config file, same bytes as an inline key', () => {
  const dir = tempDir();
  try {
    dir.write('enc.key', `0x${GCM128_KEY}\n`, 0o600);
    dir.write('auth.key', `${SHA256_KEY}\n`, 0o400);
    dir.write('cbc.key', CBC256_KEY, 0o600);
    const file = dir.write(
      'gw.yaml',
      `dataplane: { localAddress: 192.0.2.1 }
policies: [{ name: p, action: protect, remoteTunnel: 192.0.2.2 }]
sas:
  - { policy: p, direction: out, spi: 0x100, encryption: { algorithm: aes128gcm16, keyFile: enc.key } }
  - { policy: p, direction: in, spi: 0x101, encryption: { algorithm: aes256, keyFile: ${dir.path}/cbc.key },
      integrity: { algorithm: sha256, keyFile: ./auth.key } }
`,
      0o644, // no inline keys: the config itself may be world-readable
    );
    const cfg = loadManualKeyingConfig(file);
    assert.deepEqual(cfg.sas[0]!.config.encryption.keyMaterial, Buffer.from(GCM128_KEY, 'hex'));
    assert.deepEqual(cfg.sas[1]!.config.encryption.keyMaterial, Buffer.from(CBC256_KEY, 'hex'));
    assert.deepEqual(cfg.sas[1]!.config.integrity, { id: INTEG.HMAC_SHA2_256_128, key: Buffer.from(SHA256_KEY, 'hex') });
  } finally {
    dir.remove();
  }
});
