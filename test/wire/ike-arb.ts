// fast-check arbitraries for valid IKEv2 values: every payload kind, with the variety the
// codecs must carry (unknown transform types and attributes, every identity and traffic
// selector variant, typed and untyped notifications, CP values, SK/SKF, non-critical
// unknown payloads). Values are canonical (optional properties absent rather than empty),
// so a decode of their encoding must deep-equal them.
import fc from 'fast-check';
import { formatIp } from '../../src/wire/address.js';
import {
  CertEncoding,
  cpAttribute,
  CpAttributeType,
  encodeNotifyData,
  isKnownPayloadType,
  NotifyType,
  ProtocolId,
  TransformAttributeType,
  type CpAttribute,
  type CpValue,
  type IkeHeader,
  type IkeIdentity,
  type IkeMessage,
  type IkePayload,
  type NotifyPayload,
  type Proposal,
  type TrafficSelector,
  type Transform,
  type TransformAttribute,
} from '../../src/wire/ike/index.js';

// fc.record makes null-prototype objects by default; assert.deepEqual tells them apart.
function rec<T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }, opts?: { requiredKeys?: (keyof T)[] }): fc.Arbitrary<T> {
  return fc.record(model, { ...(opts as object), noNullPrototype: true }) as unknown as fc.Arbitrary<T>;
}

export const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });
const u8 = () => fc.integer({ min: 0, max: 0xff });
const u16 = () => fc.integer({ min: 0, max: 0xffff });
const u32 = () => fc.integer({ min: 0, max: 0xffff_ffff });
export const ipv4 = () => bytes(4, 4).map(formatIp);
export const ipv6 = () => bytes(16, 16).map(formatIp);

const printable = (min: number, max: number) => fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: min, maxLength: max });

export const header = (): fc.Arbitrary<Required<IkeHeader>> =>
  rec({
    initiatorSpi: bytes(8, 8),
    responderSpi: bytes(8, 8),
    exchangeType: u8(),
    initiator: fc.boolean(),
    response: fc.boolean(),
    messageId: u32(),
    higherVersion: fc.boolean(),
    minorVersion: fc.integer({ min: 0, max: 15 }),
  });

const attribute = (): fc.Arbitrary<TransformAttribute> =>
  rec({
    type: fc.integer({ min: 0, max: 0x7fff }).filter((t) => t !== TransformAttributeType.KEY_LENGTH),
    value: fc.oneof(u16(), bytes(0, 8)),
  });

const transform = (): fc.Arbitrary<Transform> =>
  rec(
    {
      type: fc.oneof(fc.integer({ min: 1, max: 5 }), u8()),
      id: u16(),
      keyLengthBits: fc.oneof(fc.constantFrom(128, 192, 256), u16()),
      attributes: fc.array(attribute(), { minLength: 1, maxLength: 3 }),
    },
    { requiredKeys: ['type', 'id'] },
  );

const proposalBody = (): fc.Arbitrary<Omit<Proposal, 'number'>> =>
  fc
    .oneof(
      rec({ protocolId: fc.constant(ProtocolId.IKE), spi: fc.oneof(bytes(0, 0), bytes(8, 8)) }),
      rec({ protocolId: fc.constantFrom(ProtocolId.AH, ProtocolId.ESP), spi: bytes(4, 4) }),
      rec({ protocolId: fc.integer({ min: 4, max: 255 }), spi: bytes(0, 8) }),
    )
    .chain((p) => fc.array(transform(), { minLength: 1, maxLength: 4 }).map((transforms) => ({ ...p, transforms })));

export const proposals = (): fc.Arbitrary<Proposal[]> =>
  fc.oneof(
    fc.array(proposalBody(), { minLength: 1, maxLength: 4 }).map((ps) => ps.map((p, i) => ({ number: i + 1, ...p }))),
    fc.tuple(fc.integer({ min: 1, max: 255 }), proposalBody()).map(([number, p]) => [{ number, ...p }]),
  );


export const identity = (): fc.Arbitrary<IkeIdentity> =>
  fc.oneof(
    ipv4().map((address) => ({ type: 'ipv4' as const, address })),
    ipv6().map((address) => ({ type: 'ipv6' as const, address })),
    printable(1, 40).map((value) => ({ type: 'fqdn' as const, value })),
    fc
      .string({ unit: 'grapheme', minLength: 1, maxLength: 20 })
      // eslint-disable-next-line no-control-regex
      .filter((s) => !/[\u0000-\u001f\u007f-\u009f]/.test(s))
      .map((value) => ({ type: 'rfc822' as const, value })),
    bytes(1, 40).map((data) => ({ type: 'der-asn1-dn' as const, data })),
    bytes(1, 40).map((data) => ({ type: 'der-asn1-gn' as const, data })),
    bytes(1, 40).map((data) => ({ type: 'key-id' as const, data })),
    rec({ type: fc.constant('other' as const), idType: fc.constantFrom(0, 4, 6, 7, 8, 12, 13, 200, 255), data: bytes(0, 20) }),
  );

const ports = () =>
  fc.oneof(
    fc.tuple(u16(), u16()).map(([a, b]) => (a <= b ? [a, b] : [b, a])),
    fc.constant([0xffff, 0]), // OPAQUE
  );

export const selector = (): fc.Arbitrary<TrafficSelector> =>
  fc.oneof(
    fc.tuple(fc.constantFrom('ipv4' as const, 'ipv6' as const), u8(), ports()).chain(([type, ipProtocol, [startPort, endPort]]) =>
      fc.tuple(type === 'ipv4' ? ipv4() : ipv6(), type === 'ipv4' ? ipv4() : ipv6()).map(([startAddress, endAddress]) => ({
        type,
        ipProtocol,
        startPort: startPort!,
        endPort: endPort!,
        startAddress,
        endAddress,
      })),
    ),
    rec({ type: fc.constant('other' as const), tsType: u8().filter((t) => t !== 7 && t !== 8 && t !== 9), ipProtocol: u8(), data: bytes(0, 12) }),
    rec({ type: fc.constant('other' as const), tsType: fc.constant(9), ipProtocol: u8(), data: bytes(12, 12) }),
  );

const cpValueFor = (type: number): fc.Arbitrary<CpValue> => {
  const v4 = ipv4();
  const v6 = ipv6();
  switch (type) {
    case CpAttributeType.INTERNAL_IP4_ADDRESS:
    case CpAttributeType.INTERNAL_IP4_DNS:
    case CpAttributeType.INTERNAL_IP4_NETMASK:
      return fc.oneof(fc.constant({ format: 'empty' as const }), v4.map((address) => ({ format: 'ip4' as const, address })));
    case CpAttributeType.INTERNAL_IP6_DNS:
      return fc.oneof(fc.constant({ format: 'empty' as const }), v6.map((address) => ({ format: 'ip6' as const, address })));
    case CpAttributeType.INTERNAL_IP4_SUBNET:
      return fc.tuple(v4, v4).map(([address, netmask]) => ({ format: 'ip4-subnet' as const, address, netmask }));
    case CpAttributeType.INTERNAL_IP6_ADDRESS:
    case CpAttributeType.INTERNAL_IP6_SUBNET:
      return fc.tuple(v6, fc.integer({ min: 0, max: 128 })).map(([address, prefixLength]) => ({ format: 'ip6-prefix' as const, address, prefixLength }));
    case CpAttributeType.APPLICATION_VERSION:
      return printable(0, 20).map((text) => ({ format: 'text' as const, text }));
    case CpAttributeType.SUPPORTED_ATTRIBUTES:
      return fc.array(fc.integer({ min: 0, max: 0x7fff }), { maxLength: 6 }).map((types) => ({ format: 'types' as const, types }));
    default:
      return bytes(0, 12).map((data) => ({ format: 'raw' as const, data }));
  }
};

export const cpAttr = (): fc.Arbitrary<CpAttribute> =>
  fc
    .oneof(
      fc.constantFrom(1, 2, 3, 7, 8, 10, 13, 14, 15),
      fc.integer({ min: 0, max: 0x7fff }).filter((t) => ![1, 2, 3, 4, 6, 8, 10, 12, 13, 14, 15, 20, 21].includes(t)),
    )
    .chain((type) => cpValueFor(type).map((v) => cpAttribute(type, v)));

const TYPED_NOTIFY = new Set<number>([1, 9, 17, 16385, 16387, 16388, 16389, 16390, 16397, 16398, 16403, 16431]);

const notifyData = (): fc.Arbitrary<{ notifyType: number; data: Uint8Array }> =>
  fc.oneof(
    u8().map((v) => ({ notifyType: NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD, data: encodeNotifyData(NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD, v) })),
    u16().map((v) => ({ notifyType: NotifyType.INVALID_KE_PAYLOAD, data: encodeNotifyData(NotifyType.INVALID_KE_PAYLOAD, v) })),
    u32().map((v) => ({ notifyType: NotifyType.INVALID_MESSAGE_ID, data: encodeNotifyData(NotifyType.INVALID_MESSAGE_ID, v) })),
    fc.integer({ min: 1, max: 0xffff_ffff }).map((v) => ({ notifyType: NotifyType.SET_WINDOW_SIZE, data: encodeNotifyData(NotifyType.SET_WINDOW_SIZE, v) })),
    rec({ cpi: u16(), transformId: u8() }).map((v) => ({ notifyType: NotifyType.IPCOMP_SUPPORTED, data: encodeNotifyData(NotifyType.IPCOMP_SUPPORTED, v) })),
    fc.tuple(fc.constantFrom(NotifyType.NAT_DETECTION_SOURCE_IP, NotifyType.NAT_DETECTION_DESTINATION_IP), bytes(20, 20)).map(([notifyType, data]) => ({ notifyType, data })),
    bytes(1, 64).map((data) => ({ notifyType: NotifyType.COOKIE, data })),
    ipv4().map((a) => ({ notifyType: NotifyType.ADDITIONAL_IP4_ADDRESS, data: encodeNotifyData(NotifyType.ADDITIONAL_IP4_ADDRESS, a) })),
    ipv6().map((a) => ({ notifyType: NotifyType.ADDITIONAL_IP6_ADDRESS, data: encodeNotifyData(NotifyType.ADDITIONAL_IP6_ADDRESS, a) })),
    u32().map((v) => ({ notifyType: NotifyType.AUTH_LIFETIME, data: encodeNotifyData(NotifyType.AUTH_LIFETIME, v) })),
    fc.array(u16(), { maxLength: 5 }).map((v) => ({ notifyType: NotifyType.SIGNATURE_HASH_ALGORITHMS, data: encodeNotifyData(NotifyType.SIGNATURE_HASH_ALGORITHMS, v) })),
    rec({ notifyType: u16().filter((t) => !TYPED_NOTIFY.has(t)), data: bytes(0, 24) }),
  );

const notify = (): fc.Arbitrary<NotifyPayload> =>
  fc
    .tuple(
      notifyData(),
      fc.oneof(
        rec({ protocolId: fc.integer({ min: 0, max: 3 }), spi: bytes(0, 0) }),
        rec({ protocolId: fc.constantFrom(ProtocolId.AH, ProtocolId.ESP), spi: bytes(4, 4) }),
      ),
    )
    .map(([d, s]) => ({ kind: 'notify', ...s, ...d }));

const eapMessage = () =>
  fc.tuple(u8(), u8(), bytes(0, 20)).map(([code, id, rest]) => {
    const m = new Uint8Array(4 + rest.length);
    m[0] = code;
    m[1] = id;
    m[2] = m.length >> 8;
    m[3] = m.length & 0xff;
    m.set(rest, 4);
    return m;
  });

// Any payload that may appear before the end of a chain (not SK/SKF).
export const plainPayload = (): fc.Arbitrary<IkePayload> =>
  fc.oneof(
    proposals().map((ps): IkePayload => ({ kind: 'sa', proposals: ps })),
    rec({ group: u16(), data: bytes(1, 64) }).map((v): IkePayload => ({ kind: 'ke', ...v })),
    fc.tuple(fc.constantFrom('idi' as const, 'idr' as const), identity()).map(([kind, id]): IkePayload => ({ kind, id })),
    rec({ encoding: u8(), data: bytes(1, 64) }).map((v): IkePayload => ({ kind: 'cert', ...v })),
    fc
      .tuple(fc.oneof(fc.constant(CertEncoding.X509_SIGNATURE), u8()), fc.array(bytes(20, 20), { maxLength: 3 }))
      .map(([encoding, hs]): IkePayload => ({ kind: 'certreq', encoding, authorities: new Uint8Array(hs.flatMap((h) => [...h])) })),
    rec({ method: u8(), data: bytes(1, 64) }).map((v): IkePayload => ({ kind: 'auth', ...v })),
    fc.oneof(bytes(16, 64), bytes(16, 256)).map((nonce): IkePayload => ({ kind: 'nonce', nonce })),
    notify(),
    fc.oneof(
      fc.constant<IkePayload>({ kind: 'delete', protocolId: ProtocolId.IKE, spis: [] }),
      fc.tuple(fc.constantFrom(ProtocolId.AH, ProtocolId.ESP), fc.array(bytes(4, 4), { maxLength: 4 })).map(([protocolId, spis]): IkePayload => ({ kind: 'delete', protocolId, spis })),
    ),
    bytes(0, 30).map((data): IkePayload => ({ kind: 'vendor', data })),
    fc.tuple(fc.constantFrom('tsi' as const, 'tsr' as const), fc.array(selector(), { minLength: 1, maxLength: 4 })).map(([kind, selectors]): IkePayload => ({ kind, selectors })),
    rec({ cfgType: fc.integer({ min: 1, max: 255 }), attributes: fc.array(cpAttr(), { maxLength: 5 }) }).map((v): IkePayload => ({ kind: 'cp', ...v })),
    eapMessage().map((message): IkePayload => ({ kind: 'eap', message })),
    rec({ type: fc.integer({ min: 1, max: 255 }).filter((t) => !isKnownPayloadType(t)), body: bytes(0, 20) }).map((v): IkePayload => ({ kind: 'unknown', critical: false, ...v })),
  );

export const encryptedPayload = (): fc.Arbitrary<IkePayload> =>
  fc.oneof(
    rec({ nextPayload: u8(), body: bytes(0, 80) }).map((v): IkePayload => ({ kind: 'sk', ...v })),
    fc
      .integer({ min: 1, max: 0xffff })
      .chain((totalFragments) => rec({ totalFragments: fc.constant(totalFragments), fragmentNumber: fc.integer({ min: 1, max: totalFragments }) }))
      .chain((f) => rec({ nextPayload: f.fragmentNumber === 1 ? u8() : fc.constant(0), body: bytes(0, 80) }).map((v): IkePayload => ({ kind: 'skf', ...f, ...v }))),
  );

// Chains without SK/SKF (what an SK payload carries).
export const innerPayloads = (): fc.Arbitrary<IkePayload[]> => fc.array(plainPayload(), { maxLength: 6 });

export const message = (): fc.Arbitrary<IkeMessage> =>
  rec({
    header: header(),
    payloads: fc
      .tuple(fc.array(plainPayload(), { maxLength: 5 }), fc.option(encryptedPayload(), { nil: undefined }))
      .map(([ps, enc]) => (enc === undefined ? ps : [...ps, enc])),
  });
