// A UDP relay between one agent and the controller, in the test process: it forwards both
// ways unchanged and keeps a copy of what the agent sent, so a test can replay or tamper
// with real registrations. To the controller the agent's packets come from the relay.
import dgram from 'node:dgram';

export interface Relay {
  readonly port: number; // the agent sends here
  readonly fromAgent: Buffer[]; // every packet the agent sent, in order
  // The agent's next packet is replaced by what `fn` returns (a man in the middle).
  interceptNext(fn: (packet: Buffer) => Buffer[]): Promise<void>;
  close(): Promise<void>;
}

export async function startRelay(controller: { address: string; port: number }): Promise<Relay> {
  const front = dgram.createSocket('udp4'); // agent side
  const back = dgram.createSocket('udp4'); // controller side
  const bind = (s: dgram.Socket) => new Promise<void>((resolve) => s.bind(0, '127.0.0.1', () => resolve()));
  await bind(front);
  await bind(back);
  let agent: { address: string; port: number } | null = null;
  const fromAgent: Buffer[] = [];
  let intercept: { fn: (packet: Buffer) => Buffer[]; done: () => void } | null = null;
  front.on('message', (msg, rinfo) => {
    agent = { address: rinfo.address, port: rinfo.port };
    fromAgent.push(Buffer.from(msg));
    if (fromAgent.length > 1000) fromAgent.splice(0, 500);
    const i = intercept;
    intercept = null;
    // One at a time and in order: the controller sees them as sent.
    const out = i === null ? [msg] : i.fn(Buffer.from(msg));
    const next = (k: number): void => {
      if (k === out.length) {
        i?.done();
        return;
      }
      back.send(out[k]!, controller.port, controller.address, () => next(k + 1));
    };
    next(0);
  });
  back.on('message', (msg) => {
    if (agent !== null) front.send(msg, agent.port, agent.address);
  });
  return {
    port: front.address().port,
    fromAgent,
    interceptNext: (fn) => new Promise<void>((resolve) => (intercept = { fn, done: resolve })),
    close: async () => {
      await new Promise<void>((resolve) => front.close(() => resolve()));
      await new Promise<void>((resolve) => back.close(() => resolve()));
    },
  };
}
