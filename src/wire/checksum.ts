// The Internet checksum (RFC 1071): the 16-bit one's complement of the one's complement
// sum of the data taken as big-endian 16-bit words, an odd last byte padded with zero.
// Used by IPv4 headers, UDP, TCP, ICMP and ICMPv6 (the last three over a pseudo-header).
//
// Sums are kept unfolded in a plain JS number (a double): adding 16-bit words cannot lose
// precision before 2^37 bytes, so the hot loop needs no carry handling; fold once at the end.

// One's complement sum of data[start, end), not folded, added to `initial`. When chaining
// several ranges, every range but the last must have an even length (RFC 1071 §2 (B)).
export function onesComplementSum(data: Uint8Array, start = 0, end = data.length, initial = 0): number {
  let sum = initial;
  let i = start;
  const last = end - 1;
  for (; i < last; i += 2) sum += (data[i]! << 8) | data[i + 1]!;
  if (i < end) sum += data[i]! << 8; // odd byte: pad with zero (RFC 1071 §4.1)
  return sum;
}

// Folds carries back into 16 bits (end-around carry, RFC 1071 §2 (A)).
export function foldSum(sum: number): number {
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}

// The value to store in a checksum field: ~fold(sum) & 0xffff.
export function finishChecksum(sum: number): number {
  return ~foldSum(sum) & 0xffff;
}

// Checksum of data[start, end) (the checksum field inside must be zero when computing).
export function internetChecksum(data: Uint8Array, start = 0, end = data.length): number {
  return finishChecksum(onesComplementSum(data, start, end));
}

// True when data[start, end), checksum field included, sums to 0xffff (RFC 1071 §1:
// the receiver's sum over the data and the checksum is all ones).
export function verifyInternetChecksum(data: Uint8Array, start = 0, end = data.length, initial = 0): boolean {
  return foldSum(onesComplementSum(data, start, end, initial)) === 0xffff;
}

// Sum of the pseudo-header that UDP, TCP and ICMPv6 prepend to their checksum:
// IPv4 (RFC 768, RFC 9293 §3.1): src, dst, zero, protocol, 16-bit upper-layer length;
// IPv6 (RFC 8200 §8.1): src, dst, 32-bit upper-layer length, 3 zero bytes, next header.
// Both reduce to: sum(src) + sum(dst) + protocol + length (as 16-bit words).
export function pseudoHeaderSum(src: Uint8Array, dst: Uint8Array, protocol: number, upperLength: number): number {
  let sum = onesComplementSum(src, 0, src.length, 0);
  sum = onesComplementSum(dst, 0, dst.length, sum);
  return sum + protocol + (upperLength & 0xffff) + Math.floor(upperLength / 0x10000);
}

// Checksum for a UDP/TCP/ICMPv6 segment at data[start, end) whose 16-bit checksum field is
// at data[start + fieldOffset]; the field's current content is skipped, so the segment need
// not be zeroed first. fieldOffset must be even (it is: 6 UDP, 16 TCP, 2 ICMP).
export function transportChecksum(
  src: Uint8Array,
  dst: Uint8Array,
  protocol: number,
  data: Uint8Array,
  start: number,
  end: number,
  fieldOffset: number,
): number {
  let sum = pseudoHeaderSum(src, dst, protocol, end - start);
  sum = onesComplementSum(data, start, start + fieldOffset, sum);
  sum = onesComplementSum(data, start + fieldOffset + 2, end, sum);
  return finishChecksum(sum);
}

// True when the segment at data[start, end), checksum field included, verifies against the
// pseudo-header for (src, dst, protocol).
export function verifyTransportChecksum(
  src: Uint8Array,
  dst: Uint8Array,
  protocol: number,
  data: Uint8Array,
  start: number,
  end: number,
): boolean {
  return verifyInternetChecksum(data, start, end, pseudoHeaderSum(src, dst, protocol, end - start));
}
