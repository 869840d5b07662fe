// `keyplane device add|list|revoke|rm|addresses`: the controller's enrolled devices
// (docs/cli.md "Enrollment"). `add` creates the device with a fresh init key and prints
// its enrollment token: a secret, shown once, never logged.
//
// Two modes, the same output:
//   - API mode (default): through the running controller's admin API (--api,
//     --token-file; api-client.ts), so the controller sees the change at once.
//   - Local-store mode, when --store is given: straight on the SQLite store file, as
//     before the admin API existed (no controller needed; safe while one runs).
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
import { deviceView, type DeviceView } from '../../controller/admin-views.js';
import { UsageError } from '../usage-error.js';
import { ApiClient, apiOptions, given, type ApiOptions } from './api-client.js';
import { table } from './table.js';

export const DEFAULT_STORE_FILE = '/var/lib/keyplane/controller.db';
export const DEFAULT_MASTER_KEY_FILE = '/var/lib/keyplane/master.key';

interface Options extends ApiOptions {
  readonly store: string;
  readonly masterKey: string;
  readonly json?: boolean;
}

interface AddOptions extends Options {
  readonly variant: KeyrollVariant;
  readonly forwardSecrecy: boolean;
  readonly controllerAddress?: string;
  readonly controllerPort?: string;
  readonly address: string[];
}

interface AddressesOptions extends Options {
  readonly clear?: boolean;
}

// Store errors the operator fixes by changing the command line or a file: exit code 2.
const USAGE_CODES: ReadonlySet<string> = new Set([
  StoreErrorCode.BAD_NAME,
  StoreErrorCode.BAD_DEVICE,
  StoreErrorCode.DEVICE_EXISTS,
  StoreErrorCode.NOT_FOUND,
  StoreErrorCode.BAD_ADDRESS,
  StoreErrorCode.ADDRESS_TAKEN,
  ...STORE_OPEN_USAGE_CODES,
]);

export const deviceJson = deviceView;

// Local-store mode when --store is on the command line; then the API options make no sense.
function localMode(cmd: Command): boolean {
  const local = given(cmd, 'store');
  if (local && (given(cmd, 'api') || given(cmd, 'tokenFile'))) throw new UsageError('--store (local-store mode) and --api/--token-file (API mode) exclude each other');
  if (!local && given(cmd, 'masterKey')) throw new UsageError('--master-key is for local-store mode: give --store too');
  return local;
}

async function withStore<T>(o: Options, create: boolean, fn: (s: SqliteControllerStore) => Promise<T>): Promise<T> {
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

// The first non-internal IPv4 address of this host, else loopback.
function guessAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

function parsePort(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[0-9]{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
    throw new UsageError(`--controller-port must be a port number 1..65535, got ${JSON.stringify(text.slice(0, 20))}`);
  }
  return Number(text);
}

function checkName(name: string): void {
  if (!DEVICE_NAME_PATTERN.test(name)) throw new UsageError(`device name ${JSON.stringify(name.slice(0, 70))} is invalid: a name is ${DEVICE_NAME_RULE}`);
}

function printAdded(device: DeviceView, token: string, json: boolean | undefined): void {
  if (json) {
    process.stdout.write(`${JSON.stringify({ device, token })}\n`);
    return;
  }
  process.stdout.write(`${token}\n`);
  const addresses = device.addresses.length === 0 ? 'no IPsec addresses yet' : `addresses ${device.addresses.join(', ')}`;
  process.stderr.write(
    `keyplane: added device ${device.name} (id ${device.id}, init SPI ${device.initSpi}, ${device.variant} variant, ` +
      `forward secrecy ${device.forwardSecrecy ? 'on' : 'off'}, ${addresses}).\n` +
      `The line above is its enrollment token. It holds the device's init key: pass it only over a safe path, ` +
      `then run on the device: keyplane agent enroll TOKEN\n`,
  );
}

export async function runDeviceAdd(name: string, o: AddOptions, cmd: Command): Promise<void> {
  const local = localMode(cmd);
  checkName(name);
  const port = parsePort(o.controllerPort);
  let address: string | undefined;
  if (o.controllerAddress !== undefined) {
    address = canonicalControllerAddress(o.controllerAddress);
    if (address === undefined) throw new UsageError(`--controller-address must be an IP address or a DNS name`);
  }
  if (!local) {
    // The controller fills in what is not given (its identity, its configured address and port).
    const body = {
      name,
      variant: o.variant,
      forwardSecrecy: o.forwardSecrecy,
      addresses: o.address,
      ...(address !== undefined ? { controllerAddress: address } : {}),
      ...(port !== undefined ? { controllerPort: port } : {}),
    };
    const r = await ApiClient.fromOptions(o).request<{ device: DeviceView; token: string }>('POST', '/v1/devices', body);
    printAdded(r.device, r.token, o.json);
    return;
  }
  if (address === undefined) {
    address = guessAddress();
    process.stderr.write(`keyplane: no --controller-address given; agents will be told to reach this controller at ${address}\n`);
  }
  const controllerAddress = address;
  await withStore(o, true, async (store) => {
    const initKey = randomBytes(KEYROLL_KEY_BYTES);
    try {
      const device = await store.addDevice({ name, variant: o.variant, forwardSecrecy: o.forwardSecrecy, addresses: o.address }, initKey, Date.now());
      const token = encodeEnrollmentToken({
        deviceId: device.id,
        name: device.name,
        initKey,
        initSpi: device.initSpi,
        variant: device.variant,
        forwardSecrecy: device.forwardSecrecy,
        controller: { address: controllerAddress, port: port ?? DEFAULT_CONTROL_PORT, identity: await store.controllerId() },
      });
      printAdded(deviceJson(device), token, o.json);
    } finally {
      initKey.fill(0);
    }
  });
}

export async function runDeviceList(o: Options, cmd: Command): Promise<void> {
  let devices: DeviceView[];
  if (localMode(cmd)) {
    // Listing never creates a store: none yet means no devices yet.
    devices = existsSync(o.store) ? (await withStore(o, false, (s) => s.listDevices())).map(deviceJson) : [];
  } else {
    devices = (await ApiClient.fromOptions(o).request<{ devices: DeviceView[] }>('GET', '/v1/devices')).devices;
  }
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ devices }, null, 2)}\n`);
    return;
  }
  if (devices.length === 0) {
    process.stdout.write('no devices (add one with: keyplane device add NAME)\n');
    return;
  }
  const rows = [['NAME', 'ID', 'STATUS', 'ADDRESSES', 'INIT-SPI', 'VARIANT', 'FS', 'CREATED']];
  for (const d of devices) {
    rows.push([d.name, d.id, d.status, d.addresses.length === 0 ? '-' : d.addresses.join(','), d.initSpi, d.variant, d.forwardSecrecy ? 'on' : 'off', d.createdAt]);
  }
  process.stdout.write(`${table(rows).join('\n')}\n`);
}

async function findDevice(store: SqliteControllerStore, name: string): Promise<DeviceRecord> {
  const d = await store.getDeviceByName(name);
  if (d === undefined) throw new UsageError(`no device named ${JSON.stringify(name.slice(0, 70))}`);
  return d;
}

function noStore(name: string, o: Options): void {
  if (!existsSync(o.store)) throw new UsageError(`no device named ${JSON.stringify(name.slice(0, 70))} (no store at ${o.store})`);
}

const apiPath = (name: string, rest = ''): string => `/v1/devices/${encodeURIComponent(name)}${rest}`;

export async function runDeviceRevoke(name: string, o: Options, cmd: Command): Promise<void> {
  let revokedNow: boolean;
  let after: DeviceView;
  if (localMode(cmd)) {
    noStore(name, o);
    [revokedNow, after] = await withStore(o, false, async (store): Promise<[boolean, DeviceView]> => {
      const d = await findDevice(store, name);
      const r = await store.revokeDevice(d.id, Date.now());
      return [r, deviceJson((await store.getDevice(d.id)) ?? d)];
    });
  } else {
    const r = await ApiClient.fromOptions(o).request<{ revoked: boolean; device: DeviceView }>('POST', apiPath(name, '/revoke'));
    [revokedNow, after] = [r.revoked, r.device];
  }
  if (o.json) process.stdout.write(`${JSON.stringify({ revoked: revokedNow, device: after })}\n`);
  else if (revokedNow) process.stdout.write(`revoked device ${after.name} (id ${after.id}); the controller refuses it from now on\n`);
  else process.stdout.write(`device ${after.name} (id ${after.id}) was already revoked at ${after.revokedAt}\n`);
}

export async function runDeviceRemove(name: string, o: Options, cmd: Command): Promise<void> {
  let d: DeviceView;
  if (localMode(cmd)) {
    noStore(name, o);
    d = await withStore(o, false, async (store) => {
      const found = await findDevice(store, name);
      await store.removeDevice(found.id);
      return deviceJson(found);
    });
  } else {
    d = (await ApiClient.fromOptions(o).request<{ device: DeviceView }>('DELETE', apiPath(name))).device;
  }
  if (o.json) process.stdout.write(`${JSON.stringify({ removed: true, device: d })}\n`);
  else process.stdout.write(`removed device ${d.name} (id ${d.id}) with its init key and channel state\n`);
}

export async function runDeviceAddresses(name: string, addresses: string[], o: AddressesOptions, cmd: Command): Promise<void> {
  if (addresses.length === 0 && !o.clear) throw new UsageError('give the addresses (keyplane device addresses NAME IP...), or --clear to remove them all');
  if (addresses.length > 0 && o.clear) throw new UsageError('--clear takes no addresses');
  let d: DeviceView;
  if (localMode(cmd)) {
    noStore(name, o);
    d = await withStore(o, false, async (store) => {
      const found = await findDevice(store, name);
      await store.setDeviceAddresses(found.id, addresses);
      return deviceJson((await store.getDevice(found.id)) ?? found);
    });
  } else {
    d = (await ApiClient.fromOptions(o).request<{ device: DeviceView }>('PUT', apiPath(name, '/addresses'), { addresses })).device;
  }
  if (o.json) process.stdout.write(`${JSON.stringify({ device: d })}\n`);
  else process.stdout.write(`device ${d.name} (id ${d.id}) now has ${d.addresses.length === 0 ? 'no addresses' : `addresses ${d.addresses.join(', ')}`}\n`);
}

// Both modes' options: --store/--master-key (local-store mode) and --api/--token-file.
function modeOptions(c: Command): Command {
  return apiOptions(
    c
      .option('--store <file>', 'local-store mode: work on this controller store (SQLite) directly instead of the admin API', DEFAULT_STORE_FILE)
      .option('--master-key <file>', 'local-store mode: the controller master key file (mode 0600)', DEFAULT_MASTER_KEY_FILE),
  );
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function registerDevice(program: Command): void {
  const device = program
    .command('device')
    .description('manage the devices enrolled with this controller (add prints an enrollment token)')
    .addHelpText(
      'after',
      '\nBy default the commands go through the controller\'s admin API (--api, --token-file);\n' +
        'with --store they work on the store file directly (local-store mode).\nSee docs/cli.md "Enrollment".',
    );

  modeOptions(
    device
      .command('add')
      .description('create a device with a fresh init key and print its enrollment token (a secret)')
      .argument('<name>', 'device name: 1-64 characters of A-Za-z0-9_.-, unique')
      .addOption(new Option('--variant <variant>', 'keyroll variant: explicit requests or SPI-inferred').choices(['explicit', 'spi']).default('explicit'))
      .option('--no-forward-secrecy', 'do not mix an X25519 exchange into each new channel key')
      .option('--address <ip>', 'an IPsec address of the device (the setting server binds requests to it); repeat for more', collect, []),
  )
    .option('--controller-address <address>', "address agents use to reach this controller (default: API mode, the controller's own setting; local mode, this host's first non-loopback IPv4)")
    .option('--controller-port <port>', `UDP port of the control channel (default ${DEFAULT_CONTROL_PORT})`)
    .option('--json', 'print {"device", "token"} as JSON')
    .addHelpText(
      'after',
      '\nIn local-store mode the store and its folder (mode 0700) and the master key (mode 0600) are created when missing.\n' +
        'The token goes to stdout alone, so it can be captured:\n' +
        '  TOKEN=$(keyplane device add gw-berlin --address 192.0.2.1)',
    )
    .action((name: string, o: AddOptions, cmd: Command) => runDeviceAdd(name, o, cmd));

  modeOptions(device.command('list').description('list devices (never keys)'))
    .option('--json', 'print {"devices": [...]} as JSON')
    .action((o: Options, cmd: Command) => runDeviceList(o, cmd));

  modeOptions(device.command('revoke').description('revoke a device: the controller refuses it and its channel keys are destroyed').argument('<name>', 'device name'))
    .option('--json', 'print {"revoked", "device"} as JSON')
    .action((name: string, o: Options, cmd: Command) => runDeviceRevoke(name, o, cmd));

  modeOptions(device.command('rm').description('remove a device with its init key and channel state').argument('<name>', 'device name'))
    .option('--json', 'print {"removed", "device"} as JSON')
    .action((name: string, o: Options, cmd: Command) => runDeviceRemove(name, o, cmd));

  modeOptions(
    device
      .command('addresses')
      .description("set a device's IPsec addresses (replaces the list; each address belongs to one device)")
      .argument('<name>', 'device name')
      .argument('[ip...]', 'the addresses'),
  )
    .option('--clear', 'remove all addresses')
    .option('--json', 'print {"device"} as JSON')
    .action((name: string, ips: string[], o: AddressesOptions, cmd: Command) => runDeviceAddresses(name, ips, o, cmd));
}
