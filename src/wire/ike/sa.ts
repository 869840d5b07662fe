// The Security Association payload, RFC 7296 §3.3: proposals (§3.3.1), each with
// transforms (§3.3.2), each with attributes (§3.3.5).
//
//   proposal   Last Substruc (0 last, 2 more) | RESERVED | Proposal Length (2) |
//              Proposal Num | Protocol ID | SPI Size | Num Transforms | SPI | Transforms
//   transform  Last Substruc (0 last, 3 more) | RESERVED | Transform Length (2) |
//              Transform Type | RESERVED | Transform ID (2) | Transform Attributes
//   attribute  AF (1 bit) | Attribute Type (15 bits) | Length (AF=0) or Value (AF=1) (2) |
//              Value (AF=0)
//
// Strictness: every length must fit its container exactly; Last Substruc must say "more"
// on every substructure but the last; Num Transforms must count the transforms; the SPI
// size must be the one the protocol has (§3.3.1: IKE 0 or 8, AH/ESP 4); proposals are
// numbered 1, 2, 3, ... (§3.3.1), except a single proposal, which in a response carries
// the number of the accepted one; the Key Length attribute is TV (§3.3.5) and given once.
// Unknown transform types, IDs and attributes are kept: RFC 7296 §3.3.6 has the
// responder reject the proposal, not the message, so the core must see them.
import { ProtocolId, TransformAttributeType } from './constants.js';
import {
  bad,
  field,
  hidden,
  isBytes,
  mapped,
  reserved,
  sizedBytes,
  struct,
  u16,
  uint,
  type Field,
} from './codec.js';
import type { Proposal, SaPayload, Transform, TransformAttribute } from './types.js';

const LAST = 0;
const MORE_PROPOSALS = 2;
const MORE_TRANSFORMS = 3;
const SUBSTRUCT_HEADER_BYTES = 4;
const ATTRIBUTE_FORMAT_TV = 0x8000;

// A list of substructures with the 4-byte "Last Substruc | RESERVED | Length" header.
// With `countKey`, the number read must equal that earlier count field.
function substructures<T>(more: number, item: Field<T>, opts: { countKey?: string; what: string }): Field<readonly T[]> {
  return {
    write(w, v, name, ctx) {
      if (!Array.isArray(v) || v.length === 0) bad(name, v, 'must be a non-empty array');
      v.forEach((x, i) => {
        const start = w.length;
        w.u8(i === v.length - 1 ? LAST : more);
        w.u8(0);
        w.u16(0); // length, patched below
        item.write(w, x, `${name}[${i}]`, ctx);
        const len = w.length - start;
        if (len > 0xffff) bad(`${name}[${i}]`, `${len} bytes`, 'longer than 65535 bytes');
        w.patchU16(start + 2, len);
      });
    },
    read(r, name, ctx) {
      const out: T[] = [];
      for (;;) {
        const at = `${name}[${out.length}]`;
        const flag = r.u8(`${at} last substruc`);
        r.skip(1, `${at} reserved`);
        const len = r.u16(`${at} length`);
        if (len < SUBSTRUCT_HEADER_BYTES) r.fail('bad-length', `${at} length ${len} < ${SUBSTRUCT_HEADER_BYTES}`);
        const sub = r.sub(len - SUBSTRUCT_HEADER_BYTES, at, opts.what);
        out.push(item.read(sub, at, {}));
        sub.done(at);
        if (flag === LAST) break;
        if (flag !== more) r.fail('bad-value', `${at} last substruc ${flag}, must be ${LAST} or ${more}`);
        if (r.left === 0) r.fail('truncated', `${at} says more follow, none does`);
      }
      if (opts.countKey !== undefined && out.length !== ctx[opts.countKey]) {
        r.fail('bad-value', `${name}: ${out.length} present, count field says ${String(ctx[opts.countKey])}`);
      }
      return out;
    },
  };
}

const attribute: Field<TransformAttribute> = {
  write(w, a, name) {
    if (typeof a !== 'object' || a === null) bad(name, a, 'must be an object');
    if (!Number.isInteger(a.type) || a.type < 0 || a.type > 0x7fff) bad(`${name}.type`, a.type, 'must be an integer 0..32767');
    if (typeof a.value === 'number') {
      if (!Number.isInteger(a.value) || a.value < 0 || a.value > 0xffff) bad(`${name}.value`, a.value, 'a TV value must be 0..65535');
      w.u16(ATTRIBUTE_FORMAT_TV | a.type);
      w.u16(a.value);
    } else {
      if (!isBytes(a.value) || a.value.length > 0xffff) bad(`${name}.value`, a.value, 'must be a number (TV) or at most 65535 bytes (TLV)');
      w.u16(a.type);
      w.u16(a.value.length);
      w.bytes(a.value);
    }
  },
  read(r, name) {
    const t = r.u16(`${name} type`);
    const type = t & 0x7fff;
    if ((t & ATTRIBUTE_FORMAT_TV) !== 0) return { type, value: r.u16(`${name} value`) };
    const len = r.u16(`${name} length`);
    return { type, value: r.copy(len, `${name} value`) };
  },
};

const attributes: Field<readonly TransformAttribute[]> = {
  write(w, v, name, ctx) {
    v.forEach((a, i) => attribute.write(w, a, `${name}[${i}]`, ctx));
  },
  read(r, name, ctx) {
    const out: TransformAttribute[] = [];
    while (r.left > 0) out.push(attribute.read(r, `${name}[${out.length}]`, ctx));
    return out;
  },
};

interface WireTransform {
  readonly type: number;
  readonly id: number;
  readonly attributes: readonly TransformAttribute[];
}

const transform: Field<Transform> = mapped(
  struct<WireTransform>([field('type', uint(1)), reserved(1), field('id', u16), field('attributes', attributes)]),
  (t, name) => {
    if (typeof t !== 'object' || t === null) bad(name, t, 'must be an object');
    const others = t.attributes ?? [];
    if (!Array.isArray(others)) bad(`${name}.attributes`, others, 'must be an array');
    if (others.some((a) => a?.type === TransformAttributeType.KEY_LENGTH)) {
      bad(`${name}.attributes`, 'Key Length', 'give the key length as keyLengthBits');
    }
    const list: TransformAttribute[] = [];
    if (t.keyLengthBits !== undefined) list.push({ type: TransformAttributeType.KEY_LENGTH, value: t.keyLengthBits });
    list.push(...others);
    return { type: t.type, id: t.id, attributes: list };
  },
  (wt, fail) => {
    let keyLengthBits: number | undefined;
    const others: TransformAttribute[] = [];
    for (const a of wt.attributes) {
      if (a.type !== TransformAttributeType.KEY_LENGTH) {
        others.push(a);
        continue;
      }
      // RFC 7296 §3.3.5: "Key Length ... TV"; one key length per transform.
      if (typeof a.value !== 'number') return fail('the Key Length attribute must use the TV format');
      if (keyLengthBits !== undefined) return fail('Key Length attribute given twice');
      keyLengthBits = a.value;
    }
    const t: { -readonly [K in keyof Transform]: Transform[K] } = { type: wt.type, id: wt.id };
    if (keyLengthBits !== undefined) t.keyLengthBits = keyLengthBits;
    if (others.length > 0) t.attributes = others;
    return t;
  },
);

// RFC 7296 §3.3.1 SPI Size by protocol; other protocol IDs keep what they carry.
function spiProblem(protocolId: number, spiBytes: number): string | null {
  if (protocolId === ProtocolId.IKE && spiBytes !== 0 && spiBytes !== 8) return `an IKE proposal has an SPI of 0 or 8 bytes, not ${spiBytes}`;
  if ((protocolId === ProtocolId.AH || protocolId === ProtocolId.ESP) && spiBytes !== 4) {
    return `an ${protocolId === ProtocolId.AH ? 'AH' : 'ESP'} proposal has a 4-byte SPI, not ${spiBytes}`;
  }
  return null;
}

const proposal: Field<Proposal> = struct<Proposal>(
  [
    field('number', uint(1, 1, 255)),
    field('protocolId', uint(1, 1, 255)), // 0 is reserved
    hidden<Proposal>('spiSize', uint(1), (p) => (isBytes(p.spi) ? p.spi.length : 0)),
    hidden<Proposal>('numTransforms', uint(1, 1, 255), (p) => (Array.isArray(p.transforms) ? p.transforms.length : 0)),
    field('spi', sizedBytes('spiSize')),
    field('transforms', substructures(MORE_TRANSFORMS, transform, { countKey: 'numTransforms', what: 'ike-sa' })),
  ],
  (p) => (isBytes(p.spi) ? spiProblem(p.protocolId, p.spi.length) : 'spi must be a Uint8Array'),
);

function numberingProblem(proposals: readonly Proposal[]): string | null {
  if (proposals.length === 1) return null; // a response: the accepted proposal's number
  for (let i = 0; i < proposals.length; i++) {
    if (proposals[i]!.number !== i + 1) return `proposal ${i + 1} is numbered ${proposals[i]!.number}: proposals are numbered 1, 2, 3, ...`;
  }
  return null;
}

export const saBody: Field<Omit<SaPayload, 'kind'>> = struct<Omit<SaPayload, 'kind'>>(
  [field('proposals', substructures(MORE_PROPOSALS, proposal, { what: 'ike-sa' }))],
  (sa) => (Array.isArray(sa.proposals) ? numberingProblem(sa.proposals) : 'proposals must be an array'),
);
