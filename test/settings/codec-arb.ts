// fast-check arbitraries for valid seed-000 settings messages (codec.test.ts,
// codec-fuzz.test.ts). Addresses are generated as bytes and written in canonical text,
// so a decoded message must equal the generated one exactly.
import fc from 'fast-check';
import { formatIp } from '../../src/wire/address.js';
import type {
  AppliedPolicy,
  FlowSelector,
  SaParameters,
  SettingsActivation,
  SettingsDistribution,
  SettingsError,
  SettingsMessage,
  SettingsRequest,
} from '../../src/wire/control-settings.js';

// Plain objects (fast-check also makes null-prototype ones, which deepStrictEqual tells apart
// from what the decoder builds).
function rec<T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(model, { noNullPrototype: true });
}

export const arbAddress: fc.Arbitrary<string> = fc
  .oneof(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.uint8Array({ minLength: 16, maxLength: 16 }))
  .map(formatIp);

export const arbRequestId = fc.integer({ min: 1, max: 0xffff_ffff });
export const arbSpi = fc.integer({ min: 256, max: 0xffff_ffff });

export const arbFlow: fc.Arbitrary<FlowSelector | null> = fc.option(
  rec({ protocol: fc.integer({ min: 0, max: 255 }), port: fc.option(fc.integer({ min: 1, max: 0xffff }), { nil: null }) }),
  { nil: null },
);

export const arbRequest: fc.Arbitrary<SettingsRequest> = rec({
  requestId: arbRequestId,
  requester: arbAddress,
  peer: arbAddress,
  spi: arbSpi,
  flow: arbFlow,
});

export const arbPolicy: fc.Arbitrary<AppliedPolicy> = rec({
  protocol: fc.constant('esp' as const),
  mode: fc.constantFrom('tunnel' as const, 'transport' as const),
  encryption: rec({ id: fc.integer({ min: 1, max: 0xffff }), keyBits: fc.integer({ min: 0, max: 0xffff }) }),
  integrity: fc.option(rec({ id: fc.integer({ min: 1, max: 0xffff }) }), { nil: null }),
  esn: fc.boolean(),
  lifetimeSeconds: fc.integer({ min: 1, max: 0x7fff_ffff }),
});

const key = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });

export const arbDistribution: fc.Arbitrary<SettingsDistribution> = fc
  .record({
    policy: arbPolicy,
    encBytes: fc.integer({ min: 1, max: 64 }),
    intBytes: fc.integer({ min: 1, max: 64 }),
  })
  .chain(({ policy, encBytes, intBytes }) => {
    const sa: fc.Arbitrary<SaParameters> = rec({
      spi: arbSpi,
      encryptionKey: key(encBytes),
      integrityKey: policy.integrity === null ? fc.constant(null) : key(intBytes),
    });
    return rec({
      requestId: arbRequestId,
      requester: arbAddress,
      peer: arbAddress,
      flow: arbFlow,
      entryId: fc.uint8Array({ minLength: 8, maxLength: 8 }).map((b) => Buffer.from(b).toString('hex')),
      policy: fc.constant(policy),
      toPeer: sa,
      fromPeer: sa,
    });
  });

export const arbActivation: fc.Arbitrary<SettingsActivation> = rec({ peer: arbAddress, flow: arbFlow });

export const arbError: fc.Arbitrary<SettingsError> = fc
  .constantFrom('no-policy' as const, 'mismatch' as const, 'no-response' as const, 'refused' as const)
  .chain((kind) =>
    rec({
      kind: fc.constant(kind),
      requestId: arbRequestId,
      requester: arbAddress,
      peer: arbAddress,
      flow: arbFlow,
      entries: kind === 'mismatch' ? fc.array(rec({ requestId: arbRequestId, spi: arbSpi }), { maxLength: 8 }) : fc.constant([]),
      // At most 50 code points of at most 4 UTF-8 bytes: within the 200-byte limit.
      reason: fc.string({ unit: 'binary', maxLength: 50 }),
    }),
  );

export const arbMessage: fc.Arbitrary<SettingsMessage> = fc.oneof(
  arbRequest.map((request) => ({ kind: 'request' as const, request })),
  arbDistribution.map((distribution) => ({ kind: 'distribution' as const, distribution })),
  arbActivation.map((activation) => ({ kind: 'activation' as const, activation })),
  arbError.map((error) => ({ kind: 'error' as const, error })),
);
