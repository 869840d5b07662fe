// Public surface of the deterministic network simulator (layer 4; generic, no protocol).
export * from './types.js';
export { Simulator, SimError, type SimulatorOptions, type Interceptor } from './simulator.js';
export { Prng, splitmix64, type Xoshiro128State } from './prng.js';
export { EventQueue, type Scheduled } from './event-queue.js';
