// A minimal client of strongSwan's vici protocol (src/libcharon/plugins/vici/README.md in
// strongSwan): enough to send a command with flat key/value arguments and read the
// success/errmsg of its answer, so the benchmark can time initiate and terminate without
// the 12-16 ms start of a `swanctl` process (../shared/interop.md).
//
// Transport: segments with a 32-bit big-endian length. Packet: one type byte, a name for
// named types (8-bit length), then the message. Message elements: SECTION_START (1, name),
// SECTION_END (2), KEY_VALUE (3, name, 16-bit length value), LIST_START (4, name),
// LIST_ITEM (5, value), LIST_END (6).
import { createConnection, type Socket } from 'node:net';

const CMD_REQUEST = 0;
const CMD_RESPONSE = 1;
const CMD_UNKNOWN = 2;
const EVENT = 7;

const SECTION_START = 1;
const SECTION_END = 2;
const KEY_VALUE = 3;
const LIST_START = 4;
const LIST_ITEM = 5;
const LIST_END = 6;

function name(text: string): Buffer {
  const b = Buffer.from(text, 'ascii');
  if (b.length > 255) throw new RangeError(`vici name too long: ${text}`);
  return Buffer.concat([Buffer.from([b.length]), b]);
}

function encodeRequest(command: string, args: Readonly<Record<string, string>>): Buffer {
  const parts: Buffer[] = [Buffer.from([CMD_REQUEST]), name(command)];
  for (const [k, v] of Object.entries(args)) {
    const value = Buffer.from(v, 'utf8');
    const len = Buffer.alloc(2);
    len.writeUInt16BE(value.length);
    parts.push(Buffer.from([KEY_VALUE]), name(k), len, value);
  }
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  return Buffer.concat([head, body]);
}

// The top-level key/values of a message (nested sections and lists are skipped).
function decodeFlat(m: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let depth = 0;
  let i = 0;
  const need = (n: number): void => {
    if (i + n > m.length) throw new Error('vici: truncated message');
  };
  const readName = (): string => {
    need(1);
    const n = m[i]!;
    need(1 + n);
    const s = m.subarray(i + 1, i + 1 + n).toString('ascii');
    i += 1 + n;
    return s;
  };
  const readValue = (): string => {
    need(2);
    const n = m.readUInt16BE(i);
    need(2 + n);
    const s = m.subarray(i + 2, i + 2 + n).toString('utf8');
    i += 2 + n;
    return s;
  };
  while (i < m.length) {
    const t = m[i++]!;
    switch (t) {
      case SECTION_START:
      case LIST_START:
        readName();
        depth++;
        break;
      case SECTION_END:
      case LIST_END:
        depth--;
        break;
      case KEY_VALUE: {
        const k = readName();
        const v = readValue();
        if (depth === 0) out[k] = v;
        break;
      }
      case LIST_ITEM:
        readValue();
        break;
      default:
        throw new Error(`vici: unknown element type ${t}`);
    }
  }
  return out;
}

export class ViciClient {
  private buffer: Buffer = Buffer.alloc(0);
  private waiting: { resolve: (r: Record<string, string>) => void; reject: (e: Error) => void } | null = null;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (e) => this.fail(e));
    socket.on('close', () => this.fail(new Error('vici: connection closed')));
  }

  static connect(path: string): Promise<ViciClient> {
    return new Promise((resolve, reject) => {
      const s = createConnection(path);
      s.once('connect', () => {
        s.off('error', reject);
        resolve(new ViciClient(s));
      });
      s.once('error', reject);
    });
  }

  // One command at a time; resolves with the answer's top-level key/values.
  request(command: string, args: Readonly<Record<string, string>> = {}): Promise<Record<string, string>> {
    if (this.waiting !== null) return Promise.reject(new Error('vici: a request is already outstanding'));
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.socket.write(encodeRequest(command, args));
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private fail(e: Error): void {
    const w = this.waiting;
    this.waiting = null;
    w?.reject(e);
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    while (this.buffer.length >= 4) {
      const n = this.buffer.readUInt32BE(0);
      if (this.buffer.length < 4 + n) return;
      const packet = this.buffer.subarray(4, 4 + n);
      this.buffer = this.buffer.subarray(4 + n);
      const type = packet[0];
      if (type === EVENT) continue; // not registered for any; ignore
      const w = this.waiting;
      this.waiting = null;
      if (w === null) continue;
      if (type === CMD_RESPONSE) {
        try {
          w.resolve(decodeFlat(packet.subarray(1)));
        } catch (e) {
          w.reject(e as Error);
        }
      } else if (type === CMD_UNKNOWN) w.reject(new Error('vici: unknown command'));
      else w.reject(new Error(`vici: unexpected packet type ${type}`));
    }
  }
}
