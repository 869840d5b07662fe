// Contracts of the deterministic network simulator. Nodes are sans-I/O cores wrapped in a
// small adapter: they get messages and timer ticks with a virtual time, return what they
// send, and say when they next need a tick. The simulator knows nothing about what the
// payloads mean (keyroll, settings, admission all run in it).

export type SimInput<P> =
  | { readonly type: 'message'; readonly from: string; readonly payload: P }
  | { readonly type: 'timer' };

export interface SimSend<P> {
  readonly to: string;
  readonly payload: P;
}

export interface SimNode<P> {
  handle(input: SimInput<P>, nowMs: number): readonly SimSend<P>[];
  // Earliest virtual time the node wants a 'timer' input; Infinity for none. Asked again
  // after every input, so it may move either way.
  nextDueMs(): number;
  // The node comes back after being down. keepState false: it lost everything it did not
  // put on durable storage (what that means is the node's business). May send at once.
  restart?(keepState: boolean, nowMs: number): readonly SimSend<P>[];
}

// Behaviour of a directed link. Every datagram is dropped with `lossRate`, otherwise
// delivered after a delay drawn uniformly from [minDelayMs, maxDelayMs] (different delays
// reorder datagrams); with `duplicateRate` a second copy follows with its own delay.
export interface LinkParams {
  readonly lossRate: number; // 0..1
  readonly duplicateRate: number; // 0..1
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
}

export const PERFECT_LINK: LinkParams = { lossRate: 0, duplicateRate: 0, minDelayMs: 1, maxDelayMs: 1 };

// What observers see, in order. 'deliver' and 'timer' come after the node handled the
// input (its outputs are already scheduled), so an observer can check invariants there.
export type SimEvent<P> =
  | { readonly type: 'send'; readonly timeMs: number; readonly from: string; readonly to: string; readonly payload: P }
  | {
      readonly type: 'lost';
      readonly timeMs: number;
      readonly from: string;
      readonly to: string;
      readonly payload: P;
      readonly reason: 'loss' | 'down' | 'no-node' | 'intercepted';
    }
  | { readonly type: 'deliver'; readonly timeMs: number; readonly from: string; readonly to: string; readonly payload: P }
  | { readonly type: 'timer'; readonly timeMs: number; readonly node: string }
  | { readonly type: 'down'; readonly timeMs: number; readonly node: string }
  | { readonly type: 'up'; readonly timeMs: number; readonly node: string; readonly keepState: boolean };

export interface SimStats {
  sent: number;
  delivered: number;
  lost: number;
  duplicated: number;
  droppedDown: number;
  timers: number;
  events: number;
}
