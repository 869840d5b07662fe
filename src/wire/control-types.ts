// Numbers of the controller <-> agent control channel (DESIGN.md "Control channel"): the
// message types of the envelope (control-message.ts) and the item types carried in it.
// One registry for every service so numbers never collide: keyroll (seed 004) owns
// 0x0100-0x01ff, the settings service (seed 000) gets 0x0200-0x02ff, admission (seed 002)
// 0x0300-0x03ff. Add new numbers here, never reuse a retired one.

// Envelope format version. A decoder rejects other versions ('bad-version') instead of
// guessing, so a future version 2 can change anything after the first byte.
export const CONTROL_VERSION = 1;

// ESP Next Header of a control message inside the channel's ESP packets. 253 is reserved
// for experimentation and testing (RFC 3692 §2.1, IANA "Assigned Internet Protocol
// Numbers"): the control message is not an IP protocol and never leaves the channel.
export const CONTROL_NEXT_HEADER = 253;

export const ControlMessageType = {
  // Agent -> controller: the periodic registration (heartbeat), which carries the keyroll
  // requests as seed 004 carries them on a Binding Update / Registration Request.
  REGISTRATION: 1,
  // Controller -> agent: the answer to one registration (same message ID), carrying the
  // key distribution as seed 004 carries it on a Binding Acknowledgement.
  REGISTRATION_ACK: 2,
  // Controller -> agent: an unsolicited-looking answer that is still bound to one agent
  // message ID (e.g. a sequence resynchronisation after the agent lost its counters).
  NOTICE: 3,
  // Controller -> agent, unsolicited: a message of another service (seed 000 distribution,
  // request activation, errors) that must reach the agent now rather than on the answer to
  // its next registration. The message ID is the controller's own counter; nothing answers
  // it (the seed-000 protocol retransmits at its own layer), and the channel's ESP replay
  // window drops duplicates.
  PUSH: 4,
} as const;

export type ControlMessageTypeValue = (typeof ControlMessageType)[keyof typeof ControlMessageType];

// Bit 15 of an item type: the item is critical. A receiver that does not know a critical
// item must reject the whole message; an unknown non-critical item is skipped (the same
// rule as IKEv2's critical bit, RFC 7296 §2.5).
export const CONTROL_ITEM_CRITICAL = 0x8000;

export const ControlItemType = {
  // seed 004 keyroll (src/wire/control-keyroll.ts)
  KEYROLL_INIT_REQUEST: 0x0101,
  KEYROLL_UPDATE_REQUEST: 0x0102,
  KEYROLL_RESEND_REQUEST: 0x0103,
  KEYROLL_DISTRIBUTION: 0x0104,
  KEYROLL_EPHEMERAL: 0x0105, // the agent's ephemeral public value (forward secrecy)
  KEYROLL_RESYNC: 0x0106, // "your sequence numbers for this key must go above N"
  KEYROLL_COOKIE: 0x0107, // proof that an init request is fresh (echoed from a notice)
  // seed 000 settings (src/wire/control-settings.ts)
  SETTINGS_REQUEST: 0x0201, // agent -> controller
  SETTINGS_DISTRIBUTION: 0x0202, // controller -> agent (both ends of the pair)
  SETTINGS_ACTIVATION: 0x0203, // controller -> the peer of a request
  SETTINGS_ERROR: 0x0204, // controller -> requester: no policy, mismatch, no response, refused
} as const;

export type ControlItemTypeValue = (typeof ControlItemType)[keyof typeof ControlItemType];
