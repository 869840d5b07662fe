// Public surface of the seed-004 keyroll core (layer 4, sans-I/O).
export * from './types.js';
export { KeySender } from './sender.js';
export { KeyReceiver } from './receiver.js';
export { KeyrollError } from './errors.js';
export { checkChannelParams, checkReceiverOptions, checkSenderOptions, defaultReceiverOptions, defaultSenderOptions } from './params.js';
export { cryptoRandomSource } from './random.js';
export { KEYROLL_KEY_BYTES, keyFingerprint } from './kdf.js';
export { DURABLE_VERSION, senderInitKeyStateOnly, type KeyDurable } from './durable.js';
