// `keyplane device add|list|revoke|rm`: the controller's enrolled devices (docs/cli.md
// "Enrollment"). `add` creates the device with a fresh init key in the controller store
// and prints its enrollment token: a secret, shown once, never logged.
import { networkInterfaces } from 'node:os';
import { existsSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { randomBytes } from '../../crypto/random.js';
import { KEYROLL_KEY_BYTES, type KeyrollVariant } from '../../keyroll/index.js';
import { StoreError, type DeviceRecord } from '../../store/types.js';
import { STORE_OPEN_USAGE_CODES, StoreErrorCode } from '../../store/error-codes.js';
import { openSqliteStore, type SqliteControllerStore } from '../../store/sqlite.js';
import { canonicalControllerAddress, encodeEnrollmentToken } from '../../store/enrollment-token.js';
import { DEFAULT_CONTROL_PORT } from '../../io/control-udp.js';
import { DEVICE_NAME_PATTERN, DEVICE_NAME_RULE } from '../../store/device-name.js';
import { spiHex } from '../status.js';
import { UsageError } from '../usage-error.js';

export const DEFAULT_STORE_FILE = '/var/lib/keyplane/controller.db';
export const DEFAULT_MASTER_KEY_FILE = '/var/lib/keyplane/master.key';

interface StoreOptions {
  readonly store: string;
  readonly masterKey: string;
  readonly json?: boolean;
}

interface AddOptions extends StoreOptions {
  readonly variant: KeyrollVariant;
  readonly forwardSecrecy: boolean;
  readonly controllerAddress?: string;
  readonly controllerPort?: string;
}

// Store errors the operator fixes by changing the command line or a file: exit code 2.
const USAGE_CODES: ReadonlySet<string> = new Set([
  StoreErrorCode.BAD_NAME,
  StoreErrorCode.BAD_DEVICE,
  StoreErrorCode.DEVICE_EXISTS,
  StoreErrorCode.NOT_FOUND,
  ...STORE_OPEN_USAGE_CODES,
]);

async function withStore<T>(o: StoreOptions, create: boolean, fn: (s: SqliteControllerStore) => Promise<T>): Promise<T> {
  let store: SqliteControllerStore | undefined;
  try {
    store = openSqliteStore({ path: o.store, masterKeyFile: o.masterKey, create });
    return await fn(store);
  } catch (e) {
    if (e instanceof StoreError && USAGE_CODES.has(e.code)) throw new UsageError(e.message);
    throw e;
  } finally {
    await store?.close();
  }
}

export function deviceJson(d: DeviceRecord) {
  return {
    id: d.id,
    name: d.name,
    status: d.revokedAtMs === null ? 'active' : 'revoked',
    createdAt: new Date(d.createdAtMs).toISOString(),
    revokedAt: d.revokedAtMs === null ? null : new Date(d.revokedAtMs).toISOString(),
    initSpi: spiHex(d.initSpi),
    variant: d.variant,
    forwardSecrecy: d.forwardSecrecy,
  };
}

// The first non-internal IPv4 address of this host, else loopback.
function guessAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

function parsePort(text: string | undefined): number {
  if (text === undefined) return DEFAULT_CONTROL_PORT;
  if (!/^[0-9]{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
    throw new UsageError(`--controller-port must be a port number 1..65535, got ${JSON.stringify(text.slice(0, 20))}`);
  }
  return Number(text);
}

export async function runDeviceAdd(name: string, o: AddOptions): Promise<void> {
  if (!DEVICE_NAME_PATTERN.test(name)) throw new UsageError(`device name ${JSON.stringify(name.slice(0, 70))} is invalid: a name is ${DEVICE_NAME_RULE}`);
  const port = parsePort(o.controllerPort);
  let address: string;
  if (o.controllerAddress === undefined) {
    address = guessAddress();
    process.stderr.write(`keyplane: no --controller-address given; agents will be told to reach this controller at ${address}\n`);
  } else {
    const a = canonicalControllerAddress(o.controllerAddress);
    if (a === undefined) throw new UsageError(`--controller-address must be an IP address or a DNS name`);
    address = a;
  }
  await withStore(o, true, async (store) => {
    const initKey = randomBytes(KEYROLL_KEY_BYTES);
    try {
      const device = await store.addDevice({ name, variant: o.variant, forwardSecrecy: o.forwardSecrecy }, initKey, Date.now());
      const token = encodeEnrollmentToken({
        deviceId: device.id,
        name: device.name,
        initKey,
        initSpi: device.initSpi,
        variant: device.variant,
        forwardSecrecy: device.forwardSecrecy,
        controller: { address, port, identity: await store.controllerId() },
      });
      if (o.json) {
        process.stdout.write(`${JSON.stringify({ device: deviceJson(device), token })}\n`);
      } else {
        process.stdout.write(`${token}\n`);
        process.stderr.write(
          `keyplane: added device ${device.name} (id ${device.id}, init SPI ${spiHex(device.initSpi)}, ${device.variant} variant, ` +
            `forward secrecy ${device.forwardSecrecy ? 'on' : 'off'}).\n` +
            `The line above is its enrollment token. It holds the device's init key: pass it only over a safe path, ` +
            `then run on the device: keyplane agent enroll TOKEN\n`,
        );
      }
    } finally {
      initKey.fill(0);
    }
  });
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd());
}

export async function runDeviceList(o: StoreOptions): Promise<void> {
  // Listing never creates a store: none yet means no devices yet.
  const devices = existsSync(o.store) ? await withStore(o, false, (s) => s.listDevices()) : [];
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ devices: devices.map(deviceJson) }, null, 2)}\n`);
    return;
  }
  if (devices.length === 0) {
    process.stdout.write('no devices (add one with: keyplane device add NAME)\n');
    return;
  }
  const rows = [['NAME', 'ID', 'STATUS', 'INIT-SPI', 'VARIANT', 'FS', 'CREATED']];
  for (const d of devices.map(deviceJson)) {
    rows.push([d.name, d.id, d.status, d.initSpi, d.variant, d.forwardSecrecy ? 'on' : 'off', d.createdAt]);
  }
  process.stdout.write(`${table(rows).join('\n')}\n`);
}

async function findDevice(store: SqliteControllerStore, name: string): Promise<DeviceRecord> {
  const d = await store.getDeviceByName(name);
  if (d === undefined) throw new UsageError(`no device named ${JSON.stringify(name.slice(0, 70))}`);
  return d;
}

export async function runDeviceRevoke(name: string, o: StoreOptions): Promise<void> {
  if (!existsSync(o.store)) throw new UsageError(`no device named ${JSON.stringify(name.slice(0, 70))} (no store at ${o.store})`);
  await withStore(o, false, async (store) => {
    const d = await findDevice(store, name);
    const revokedNow = await store.revokeDevice(d.id, Date.now());
    const after = (await store.getDevice(d.id)) ?? d;
    if (o.json) process.stdout.write(`${JSON.stringify({ revoked: revokedNow, device: deviceJson(after) })}\n`);
    else if (revokedNow) process.stdout.write(`revoked device ${d.name} (id ${d.id}); the controller refuses it from now on\n`);
    else process.stdout.write(`device ${d.name} (id ${d.id}) was already revoked at ${deviceJson(after).revokedAt}\n`);
  });
}

export async function runDeviceRemove(name: string, o: StoreOptions): Promise<void> {
  if (!existsSync(o.store)) throw new UsageError(`no device named ${JSON.stringify(name.slice(0, 70))} (no store at ${o.store})`);
  await withStore(o, false, async (store) => {
    const d = await findDevice(store, name);
    await store.removeDevice(d.id);
    if (o.json) process.stdout.write(`${JSON.stringify({ removed: true, device: deviceJson(d) })}\n`);
    else process.stdout.write(`removed device ${d.name} (id ${d.id}) with its init key and channel state\n`);
  });
}

function storeOptions(c: Command): Command {
  return c
    .option('--store <file>', 'the controller store (SQLite)', DEFAULT_STORE_FILE)
    .option('--master-key <file>', 'the controller master key file (mode 0600)', DEFAULT_MASTER_KEY_FILE);
}

export function registerDevice(program: Command): void {
  const device = program
    .command('device')
    .description('manage the devices enrolled with this controller (add prints an enrollment token)')
    .addHelpText('after', '\nSee docs/cli.md "Enrollment".');

  storeOptions(
    device
      .command('add')
      .description('create a device with a fresh init key and print its enrollment token (a secret)')
      .argument('<name>', 'device name: 1-64 characters of A-Za-z0-9_.-, unique')
      .addOption(new Option('--variant <variant>', 'keyroll variant: explicit requests or SPI-inferred').choices(['explicit', 'spi']).default('explicit'))
      .option('--no-forward-secrecy', 'do not mix an X25519 exchange into each new channel key'),
  )
    .option('--controller-address <address>', "address agents use to reach this controller (default: this host's first non-loopback IPv4)")
    .option('--controller-port <port>', `UDP port of the control channel (default ${DEFAULT_CONTROL_PORT})`)
    .option('--json', 'print {"device", "token"} as JSON')
    .addHelpText(
      'after',
      '\nThe store and its folder (mode 0700) and the master key (mode 0600) are created when missing.\n' +
        'The token goes to stdout alone, so it can be captured:\n' +
        '  TOKEN=$(keyplane device add gw-berlin --controller-address 192.0.2.10)',
    )
    .action((name: string, o: AddOptions) => runDeviceAdd(name, o));

  storeOptions(device.command('list').description('list devices (never keys)'))
    .option('--json', 'print {"devices": [...]} as JSON')
    .action((o: StoreOptions) => runDeviceList(o));

  storeOptions(device.command('revoke').description('revoke a device: the controller refuses it and its channel keys are destroyed').argument('<name>', 'device name'))
    .option('--json', 'print {"revoked", "device"} as JSON')
    .action((name: string, o: StoreOptions) => runDeviceRevoke(name, o));

  storeOptions(device.command('rm').description('remove a device with its init key and channel state').argument('<name>', 'device name'))
    .option('--json', 'print {"removed", "device"} as JSON')
    .action((name: string, o: StoreOptions) => runDeviceRemove(name, o));
}
