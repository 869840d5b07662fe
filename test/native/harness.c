// Sanitizer harness for the native addon's pure packet code (native/segment.c).
// test/native/sanitizers.test.ts compiles it together with native/segment.c using
// -fsanitize=address,undefined -fno-sanitize-recover=all and runs it: any out-of-bounds
// access, use of freed memory or undefined behaviour aborts with a report, and every
// property below that does not hold exits non-zero with a message.
//
// Every input buffer is its own heap allocation of exactly the packet's length, and
// every output buffer exactly the capacity the function is told, so AddressSanitizer
// catches a read or write even one byte past the end.
//
// Usage: harness <seed> <random cases>   (prints one "name: counts" line per group)
//        Built with -DKP_INJECT_OVERREAD (-DKP_INJECT_UB) it reads one byte past a buffer
//        (overflows an int) on purpose, so the test can check that the sanitizers report.

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "segment.h"

// ---- plumbing ----------------------------------------------------------------------

static uint64_t rng_state;
static uint64_t rnd(void) {  // xorshift64*: deterministic for a seed
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 2685821657736338717ULL;
}
static uint32_t below(uint32_t n) { return n ? (uint32_t)(rnd() % n) : 0; }
static int chance(uint32_t percent) { return below(100) < percent; }

static const char *current = "";
#define REQUIRE(cond)                                                                            \
  do {                                                                                           \
    if (!(cond)) {                                                                               \
      fprintf(stderr, "FAIL [%s] %s:%d: %s (seed state %llu)\n", current, __FILE__, __LINE__, #cond, \
              (unsigned long long)rng_state);                                                    \
      exit(1);                                                                                   \
    }                                                                                            \
  } while (0)

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) {
    fprintf(stderr, "out of memory\n");
    exit(2);
  }
  return p;
}
// An exact-size heap copy (n == 0 still gets a distinct 1-byte block; nothing may read it).
static uint8_t *dup_exact(const uint8_t *p, size_t n) {
  uint8_t *q = xmalloc(n);
  if (n) memcpy(q, p, n);
  return q;
}

// Reference one's-complement sum, written independently of segment.c's sum16: byte by
// byte into a 64-bit accumulator (RFC 1071 §1: even bytes are the high half of a word).
static uint64_t ref_sum(const uint8_t *p, size_t n) {
  uint64_t s = 0;
  for (size_t i = 0; i < n; i++) s += (i & 1) ? p[i] : (uint64_t)p[i] << 8;
  return s;
}
static uint16_t ref_fold(uint64_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return (uint16_t)s;
}
static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)rd16(p) << 16 | rd16(p + 2); }
static void wr16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

// Do the IPv4 header checksum (if v4) and the TCP checksum of this packet verify?
static int ip_tcp_checksums_ok(const uint8_t *p, size_t len) {
  if (len < 20) return 0;
  size_t ip_hl;
  uint64_t pseudo;
  if ((p[0] >> 4) == 4) {
    ip_hl = (size_t)(p[0] & 15) * 4;
    if (ip_hl < 20 || len < ip_hl + 20) return 0;
    if (ref_fold(ref_sum(p, ip_hl)) != 0xffff) return 0;
    pseudo = ref_sum(p + 12, 8) + 6 + (len - ip_hl);
  } else {
    ip_hl = 40;
    if (len < 60) return 0;
    pseudo = ref_sum(p + 8, 32) + 6 + (len - ip_hl);
  }
  return ref_fold(pseudo + ref_sum(p + ip_hl, len - ip_hl)) == 0xffff;
}

// ---- building TCP segments ------------------------------------------------------------

typedef struct {
  int v6;
  uint8_t src[16], dst[16];
  uint16_t sport, dport, window, id;
  uint32_t seq, ack;
  uint8_t flags, ttl, tos;
  int df;
  uint32_t flow;  // IPv6 flow label
  size_t optlen;  // multiple of 4, <= 40
  uint8_t opts[40];
} tcp_t;

static void random_tcp(tcp_t *t, int v6) {
  memset(t, 0, sizeof *t);
  t->v6 = v6;
  for (int i = 0; i < 16; i++) {
    t->src[i] = (uint8_t)rnd();
    t->dst[i] = (uint8_t)rnd();
  }
  t->sport = (uint16_t)rnd();
  t->dport = (uint16_t)rnd();
  t->window = (uint16_t)rnd();
  t->id = (uint16_t)rnd();
  t->seq = (uint32_t)rnd();  // wraps around 2^32 in some flows
  t->ack = (uint32_t)rnd();
  t->flags = 0x10;
  t->ttl = (uint8_t)(1 + below(255));
  t->tos = (uint8_t)rnd();
  t->df = chance(80);
  t->flow = (uint32_t)rnd() & 0xfffff;
  t->optlen = chance(50) ? 12 : 4 * below(11);
  for (size_t i = 0; i < t->optlen; i++) t->opts[i] = (uint8_t)rnd();
}

// A complete segment with valid checksums, in an exact-size heap block.
static uint8_t *build_tcp(const tcp_t *t, const uint8_t *payload, size_t plen, size_t *len_out) {
  size_t ip_hl = t->v6 ? 40 : 20, tcp_hl = 20 + t->optlen, len = ip_hl + tcp_hl + plen;
  uint8_t *p = xmalloc(len);
  memset(p, 0, ip_hl + tcp_hl);
  if (!t->v6) {
    p[0] = 0x45;
    p[1] = t->tos;
    wr16(p + 2, (uint16_t)len);
    wr16(p + 4, t->id);
    p[6] = t->df ? 0x40 : 0;
    p[8] = t->ttl;
    p[9] = 6;
    memcpy(p + 12, t->src, 4);
    memcpy(p + 16, t->dst, 4);
    wr16(p + 10, (uint16_t)~ref_fold(ref_sum(p, 20)));
  } else {
    uint32_t w = 6u << 28 | (uint32_t)t->tos << 20 | t->flow;
    wr16(p, (uint16_t)(w >> 16));
    wr16(p + 2, (uint16_t)w);
    wr16(p + 4, (uint16_t)(tcp_hl + plen));
    p[6] = 6;
    p[7] = t->ttl;
    memcpy(p + 8, t->src, 16);
    memcpy(p + 24, t->dst, 16);
  }
  uint8_t *h = p + ip_hl;
  wr16(h, t->sport);
  wr16(h + 2, t->dport);
  wr16(h + 4, (uint16_t)(t->seq >> 16));
  wr16(h + 6, (uint16_t)t->seq);
  wr16(h + 8, (uint16_t)(t->ack >> 16));
  wr16(h + 10, (uint16_t)t->ack);
  h[12] = (uint8_t)((tcp_hl / 4) << 4);
  h[13] = t->flags;
  wr16(h + 14, t->window);
  memcpy(h + 20, t->opts, t->optlen);
  if (plen) memcpy(h + tcp_hl, payload, plen);
  uint64_t pseudo = (t->v6 ? ref_sum(p + 8, 32) : ref_sum(p + 12, 8)) + 6 + (len - ip_hl);
  wr16(h + 16, (uint16_t)~ref_fold(pseudo + ref_sum(h, len - ip_hl)));
  *len_out = len;
  return p;
}

static uint8_t payload_pool[70000];

// ---- tun_segment: hand-made edge cases --------------------------------------------------

typedef struct {
  uint32_t n;
  uint32_t lens[20000];
  uint8_t *out;
} seg_result_t;

// Runs tun_segment on an exact-size copy of pkt with an exact-size output of out_cap bytes.
static uint32_t run_segment(const struct virtio_net_hdr *vh, const uint8_t *pkt, size_t len, size_t out_cap,
                            uint32_t max_out, seg_result_t *res) {
  uint8_t *in = dup_exact(pkt, len);
  uint8_t *out = xmalloc(out_cap);
  uint32_t *lens = xmalloc((size_t)max_out * sizeof *lens);
  uint32_t n = tun_segment(vh, in, len, out, out_cap, lens, max_out);
  REQUIRE(n <= max_out);
  size_t used = 0;
  for (uint32_t i = 0; i < n; i++) used += lens[i];
  REQUIRE(used <= out_cap);
  if (res) {
    REQUIRE(n <= sizeof res->lens / sizeof res->lens[0]);
    res->n = n;
    memcpy(res->lens, lens, (size_t)n * sizeof *lens);
    res->out = n ? dup_exact(out, used) : NULL;  // callers free it
  }
  free(in);
  free(out);
  free(lens);
  return n;
}

static struct virtio_net_hdr gso(uint8_t type, uint16_t size) {
  struct virtio_net_hdr vh;
  memset(&vh, 0, sizeof vh);
  vh.gso_type = type;
  vh.gso_size = size;
  return vh;
}

// A TSO packet cut into pieces must give back the original byte stream: checks every
// piece (checksums, sequence numbers, lengths, flags) against the super-packet.
static void check_pieces(const uint8_t *pkt, size_t len, size_t mss, const seg_result_t *r) {
  int v6 = (pkt[0] >> 4) == 6;
  size_t ip_hl = v6 ? 40 : (size_t)(pkt[0] & 15) * 4, tcp_hl = (size_t)(pkt[ip_hl + 12] >> 4) * 4;
  size_t hl = ip_hl + tcp_hl, payload = len - hl;
  size_t want = payload == 0 ? 1 : (payload + mss - 1) / mss;
  REQUIRE(r->n == want);
  const uint8_t *o = r->out;
  size_t off = 0;
  for (uint32_t i = 0; i < r->n; i++) {
    size_t l = r->lens[i];
    REQUIRE(l >= hl && l - hl <= mss);
    REQUIRE(ip_tcp_checksums_ok(o, l));
    if (!v6) {
      REQUIRE(rd16(o + 2) == l);
      REQUIRE(rd16(o + 4) == (uint16_t)(rd16(pkt + 4) + i));
    } else {
      REQUIRE(rd16(o + 4) == l - 40);
    }
    REQUIRE(rd32(o + ip_hl + 4) == rd32(pkt + ip_hl + 4) + (uint32_t)off);
    uint8_t f = o[ip_hl + 13], f0 = pkt[ip_hl + 13];
    int last = i + 1 == r->n;
    REQUIRE((f & 0x09) == (last ? (f0 & 0x09) : 0));  // FIN, PSH only on the last
    REQUIRE((f & 0x80) == (i == 0 ? (f0 & 0x80) : 0));  // CWR only on the first
    REQUIRE(memcmp(o + hl, pkt + hl + off, l - hl) == 0);
    off += l - hl;
    o += l;
  }
  REQUIRE(off == payload);
}

static void edge_segment(void) {
  current = "segment-edge";
  seg_result_t *r = xmalloc(sizeof *r);
  tcp_t t;
  size_t len;
  for (int v6 = 0; v6 <= 1; v6++) {
    random_tcp(&t, v6);
    t.optlen = 12;
    uint8_t type = v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
    size_t ip_hl = v6 ? 40 : 20;
    uint8_t *p = build_tcp(&t, payload_pool, 4000, &len);
    struct virtio_net_hdr vh = gso(type, 1448);

    // A valid TSO packet: 3 pieces of at most 1448 bytes.
    REQUIRE(run_segment(&vh, p, len, 1 << 20, 64, r) == 3);
    check_pieces(p, len, 1448, r);
    free(r->out);
    // With the ECN bit in gso_type, and with hdr_len / csum fields beyond the packet
    // (they are not used for TCP segmentation: the headers are parsed, not trusted).
    vh.gso_type = type | VIRTIO_NET_HDR_GSO_ECN;
    vh.hdr_len = 65535;
    vh.csum_start = 65535;
    vh.csum_offset = 65535;
    vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    REQUIRE(run_segment(&vh, p, len, 1 << 20, 64, r) == 3);
    check_pieces(p, len, 1448, r);
    free(r->out);
    vh = gso(type, 1448);
    // Output capacity: exactly enough works; one byte less drops the packet.
    size_t need = 3 * (ip_hl + 32) + 4000;
    REQUIRE(run_segment(&vh, p, len, need, 64, NULL) == 3);
    REQUIRE(run_segment(&vh, p, len, need - 1, 64, NULL) == 0);
    REQUIRE(run_segment(&vh, p, len, need, 3, NULL) == 3);
    REQUIRE(run_segment(&vh, p, len, need, 2, NULL) == 0);  // max_out
    REQUIRE(run_segment(&vh, p, len, need, 0, NULL) == 0);
    REQUIRE(run_segment(&vh, p, len, 0, 64, NULL) == 0);
    // gso_size 0 (would loop forever), 1 (64k pieces: out of room), 65535 (one piece).
    vh.gso_size = 0;
    REQUIRE(run_segment(&vh, p, len, 1 << 20, 20000, NULL) == 0);
    vh.gso_size = 1;
    REQUIRE(run_segment(&vh, p, len, 2 * 65536, 16384, NULL) == 0);
    REQUIRE(run_segment(&vh, p, len, 1 << 20, 3999, NULL) == 0);
    REQUIRE(run_segment(&vh, p, len, 1 << 20, 4000, r) == 4000);
    check_pieces(p, len, 1, r);
    free(r->out);
    vh.gso_size = 65535;
    REQUIRE(run_segment(&vh, p, len, 1 << 20, 64, r) == 1);
    check_pieces(p, len, 65535, r);
    free(r->out);
    vh.gso_size = 1448;
    // Every truncation of the packet: never an access past the end.
    for (size_t l = 0; l < ip_hl + 32; l++) REQUIRE(run_segment(&vh, p, l, 1 << 20, 64, NULL) == 0);
    for (size_t l = ip_hl + 32; l <= len; l += 97) {
      REQUIRE(run_segment(&vh, p, l, 1 << 20, 64, NULL) == (l == ip_hl + 32 ? 1 : (l - ip_hl - 32 + 1447) / 1448));
    }
    // Unknown or mismatched gso types.
    uint8_t bad_types[] = {VIRTIO_NET_HDR_GSO_UDP, 5 /* UDP_L4 */, 0x7f, 0x80, 0xff,
                           (uint8_t)(v6 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6)};
    for (size_t i = 0; i < sizeof bad_types; i++) {
      struct virtio_net_hdr b = gso(bad_types[i], 1448);
      REQUIRE(run_segment(&b, p, len, 1 << 20, 64, NULL) == 0);
    }
    // TCP data offset < 5, and beyond the packet.
    uint8_t *q = dup_exact(p, len);
    for (int doff = 0; doff < 5; doff++) {
      q[ip_hl + 12] = (uint8_t)(doff << 4);
      REQUIRE(run_segment(&vh, q, len, 1 << 20, 64, NULL) == 0);
    }
    q[ip_hl + 12] = 0xf0;  // 60-byte TCP header in a 20 + 20 + ... packet cut short
    REQUIRE(run_segment(&vh, q, ip_hl + 59, 1 << 20, 64, NULL) == 0);
    REQUIRE(run_segment(&vh, q, ip_hl + 60, 1 << 20, 64, NULL) == 1);
    free(q);
    // Headers only (no payload): one packet.
    uint8_t *h = build_tcp(&t, payload_pool, 0, &len);
    REQUIRE(run_segment(&vh, h, len, 1 << 20, 64, r) == 1);
    check_pieces(h, len, 1448, r);
    free(r->out);
    free(h);
    free(p);
  }
  // IPv4: IHL < 5 (0..4) is dropped; IHL 15 needs 60 bytes of IP header.
  random_tcp(&t, 0);
  uint8_t *p = build_tcp(&t, payload_pool, 3000, &len);
  struct virtio_net_hdr vh = gso(VIRTIO_NET_HDR_GSO_TCPV4, 1000);
  for (int ihl = 0; ihl < 5; ihl++) {
    uint8_t *q = dup_exact(p, len);
    q[0] = (uint8_t)(0x40 | ihl);
    REQUIRE(run_segment(&vh, q, len, 1 << 20, 64, NULL) == 0);
    free(q);
  }
  uint8_t *q = dup_exact(p, len);
  q[0] = 0x4f;
  REQUIRE(run_segment(&vh, q, 79, 1 << 20, 64, NULL) == 0);  // 60 + 20 needed
  q[60 + 12] = 0x50;
  REQUIRE(run_segment(&vh, q, 80, 1 << 20, 64, NULL) == 1);
  free(q);
  // IPv6 whose next header is not TCP (an extension header): dropped, not parsed.
  random_tcp(&t, 1);
  free(p);
  p = build_tcp(&t, payload_pool, 3000, &len);
  uint8_t nh[] = {0, 43, 44, 60, 17, 59};
  vh = gso(VIRTIO_NET_HDR_GSO_TCPV6, 1000);
  for (size_t i = 0; i < sizeof nh; i++) {
    uint8_t *q2 = dup_exact(p, len);
    q2[6] = nh[i];
    REQUIRE(run_segment(&vh, q2, len, 1 << 20, 64, NULL) == 0);
    free(q2);
  }
  free(p);

  // 64 KB: the largest IPv4 packet (65535 bytes) and the largest IPv6 one the reader's
  // 64 KiB buffer holds (65536 bytes), cut at a typical MSS.
  for (int v6 = 0; v6 <= 1; v6++) {
    random_tcp(&t, v6);
    t.optlen = 12;
    size_t hl = (v6 ? 40 : 20) + 32, plen = (v6 ? 65536 : 65535) - hl;
    p = build_tcp(&t, payload_pool, plen, &len);
    REQUIRE(len == (v6 ? 65536u : 65535u));
    vh = gso(v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4, 1448);
    REQUIRE(run_segment(&vh, p, len, 2 * 65536, 16384, r) == (plen + 1447) / 1448);
    check_pieces(p, len, 1448, r);
    free(r->out);
    free(p);
  }

  // Not GSO: copied, and a partial checksum completed when asked.
  random_tcp(&t, 0);
  p = build_tcp(&t, payload_pool, 1000, &len);
  vh = gso(VIRTIO_NET_HDR_GSO_NONE, 0);
  REQUIRE(run_segment(&vh, p, len, len, 1, r) == 1);
  REQUIRE(r->lens[0] == len && memcmp(r->out, p, len) == 0);
  free(r->out);
  REQUIRE(run_segment(&vh, p, len, len - 1, 1, NULL) == 0);
  REQUIRE(run_segment(&vh, p, len, len, 0, NULL) == 0);
  REQUIRE(run_segment(&vh, p, 0, 0, 1, NULL) == 1);
  // CHECKSUM_PARTIAL as the kernel sends it: the field holds the pseudo-header sum.
  uint8_t *partial = dup_exact(p, len);
  uint64_t pseudo = ref_sum(p + 12, 8) + 6 + (len - 20);
  wr16(partial + 36, ref_fold(pseudo));
  vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  vh.csum_start = 20;
  vh.csum_offset = 16;
  REQUIRE(run_segment(&vh, partial, len, len, 1, r) == 1);
  REQUIRE(memcmp(r->out, p, len) == 0);  // the checksum the full packet had
  free(r->out);
  // csum_start / csum_offset at and beyond the end.
  uint16_t starts[] = {0, 20, (uint16_t)(len - 2), (uint16_t)(len - 1), (uint16_t)len, 65535};
  uint16_t offsets[] = {0, 16, (uint16_t)(len - 22), (uint16_t)(len - 21), 65535};
  for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++) {
    for (size_t j = 0; j < sizeof offsets / sizeof offsets[0]; j++) {
      vh.csum_start = starts[i];
      vh.csum_offset = offsets[j];
      size_t at = (size_t)starts[i] + offsets[j];
      uint32_t want = starts[i] < len && at + 2 <= len ? 1 : 0;
      REQUIRE(run_segment(&vh, partial, len, len, 1, NULL) == want);
    }
  }
  free(partial);
  free(p);
  free(r);
  printf("segment-edge: ok\n");
}

// ---- tun_segment: random and mutated input -------------------------------------------

static void random_segment(uint32_t cases) {
  current = "segment-random";
  seg_result_t *r = xmalloc(sizeof *r);
  uint32_t segmented = 0, dropped = 0, pieces = 0;
  for (uint32_t c = 0; c < cases; c++) {
    tcp_t t;
    int v6 = chance(50);
    random_tcp(&t, v6);
    t.flags = (uint8_t)(chance(70) ? 0x10 | (rnd() & 0x89) : rnd());
    size_t plen = chance(2) ? below(65536 - 100) : chance(30) ? below(3000) : below(200);
    size_t len;
    uint8_t *p = build_tcp(&t, payload_pool, plen, &len);
    if (len > 65536) {
      free(p);
      continue;
    }
    // Mutations: truncate, flip bytes, garbage header fields.
    if (chance(20)) len = below((uint32_t)len + 1);
    if (chance(20)) {
      for (int k = 1 + (int)below(4); k > 0 && len > 0; k--) p[below((uint32_t)len)] ^= (uint8_t)(1 + below(255));
    }
    if (chance(10) && len > 0) p[0] = (uint8_t)rnd();
    if (chance(10) && len > (size_t)(v6 ? 52 : 32)) p[(v6 ? 40 : 20) + 12] = (uint8_t)rnd();
    if (chance(3)) {  // all random
      for (size_t i = 0; i < len; i++) p[i] = (uint8_t)rnd();
    }
    struct virtio_net_hdr vh;
    memset(&vh, 0, sizeof vh);
    static const uint8_t types[] = {0, 1, 3, 4, 5, 0x81, 0x84, 0x7f};
    vh.gso_type = chance(90) ? (uint8_t)(v6 ? 4 : 1) : types[below(sizeof types)];
    if (chance(5)) vh.gso_type = 0;
    static const uint16_t sizes[] = {0, 536, 1448, 1460, 8960, 65535};
    vh.gso_size = chance(80) ? sizes[below(sizeof sizes / sizeof sizes[0])]
                  : chance(25) ? (uint16_t)(1 + below(8))  // tiny: many pieces
                               : (uint16_t)rnd();
    vh.flags = (uint8_t)(chance(50) ? VIRTIO_NET_HDR_F_NEEDS_CSUM : rnd());
    vh.hdr_len = (uint16_t)(chance(50) ? below((uint32_t)len + 2) : rnd());
    vh.csum_start = (uint16_t)(chance(50) ? below((uint32_t)len + 2) : rnd());
    vh.csum_offset = (uint16_t)(chance(50) ? (v6 ? 16 : below(24)) : rnd());
    // Output room: usually enough (the reader gives at least 128 KiB), often tight.
    size_t out_cap = chance(60) ? 2 * len + 4096 + below(65536) : below((uint32_t)len * 2 + 200);
    uint32_t max_out = chance(80) ? 16384 : below(70);
    uint32_t n = run_segment(&vh, p, len, out_cap, max_out, r);
    if (n == 0) {
      dropped++;
    } else {
      segmented++;
      pieces += n;
      uint8_t base = (uint8_t)(vh.gso_type & ~VIRTIO_NET_HDR_GSO_ECN);
      if (vh.gso_type != VIRTIO_NET_HDR_GSO_NONE) {
        // Anything segmented was TCP with sane header lengths; every piece checksums.
        REQUIRE(base == VIRTIO_NET_HDR_GSO_TCPV4 || base == VIRTIO_NET_HDR_GSO_TCPV6);
        const uint8_t *o = r->out;
        for (uint32_t i = 0; i < n; i++) {
          REQUIRE(r->lens[i] >= 40 && r->lens[i] <= len);
          REQUIRE(ip_tcp_checksums_ok(o, r->lens[i]));
          o += r->lens[i];
        }
        check_pieces(p, len, vh.gso_size, r);
      } else {
        REQUIRE(n == 1 && r->lens[0] == len);
        if (vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM && (vh.csum_offset & 1) == 0) {
          // The completed field makes the region sum to the pseudo sum's complement.
          size_t at = (size_t)vh.csum_start + vh.csum_offset;
          uint64_t pseudo = rd16(p + at);
          REQUIRE(ref_fold(pseudo + ref_sum(r->out + vh.csum_start, len - vh.csum_start)) == 0xffff);
        }
      }
      free(r->out);
    }
    free(p);
  }
  REQUIRE(segmented > cases / 4 && dropped > cases / 20);  // both paths well exercised
  printf("segment-random: %u cases, %u segmented into %u packets, %u dropped\n", cases, segmented, pieces, dropped);
  free(r);
}

// ---- coalescing (tunWrite mode 2) -----------------------------------------------------

// Runs the same loop as tun_write over k segments and checks each merged packet: it has
// the right size, only checksum-valid segments of one flow went into it, and cutting it
// again (what the kernel does with the GSO packet) gives back exactly those segments.
static void coalesce_flow(uint8_t **pk, size_t *lens, uint32_t k, const int *valid, uint32_t *merged_runs,
                          uint32_t *merged_segs) {
  seg_t *segs = xmalloc(k * sizeof *segs);
  for (uint32_t i = 0; i < k; i++) {
    memset(&segs[i], 0xa5, sizeof segs[i]);  // stale garbage, as in a reused stack array
    segs[i].p = pk[i];
    segs[i].len = lens[i];
    classify_seg(&segs[i]);
    if (segs[i].tcp_hl) REQUIRE(ip_tcp_checksums_ok(pk[i], lens[i]));
    if (!valid[i]) REQUIRE(segs[i].tcp_hl == 0);
  }
  seg_result_t *r = xmalloc(sizeof *r);
  for (uint32_t i = 0; i < k;) {
    size_t total;
    uint32_t j = coalesce_run(segs, i, k, &total);
    REQUIRE(j > i && j <= k && j - i <= GRO_MAX_SEGS);
    if (j - i == 1) {
      REQUIRE(total == lens[i]);
      i = j;
      continue;
    }
    (*merged_runs)++;
    *merged_segs += j - i;
    REQUIRE(total <= GRO_MAX_BYTES);
    uint8_t *hdr = xmalloc(COALESCE_HDR_MAX);
    struct virtio_net_hdr vh;
    size_t hl = coalesce_header(segs, i, j, total, hdr, &vh);
    REQUIRE(hl == segs[i].ip_hl + segs[i].tcp_hl && hl <= COALESCE_HDR_MAX);
    REQUIRE(vh.gso_size == segs[i].payload && vh.hdr_len == hl && vh.csum_start == segs[i].ip_hl);
    REQUIRE(vh.flags == VIRTIO_NET_HDR_F_NEEDS_CSUM && vh.csum_offset == 16);
    // The merged packet, as writev gathers it.
    uint8_t *m = xmalloc(total);
    memcpy(m, hdr, hl);
    size_t at = hl;
    for (uint32_t q = i; q < j; q++) {
      REQUIRE(segs[q].tcp_hl && segs[q].payload <= vh.gso_size);
      REQUIRE(at + segs[q].payload <= total);
      memcpy(m + at, pk[q] + segs[q].ip_hl + segs[q].tcp_hl, segs[q].payload);
      at += segs[q].payload;
    }
    REQUIRE(at == total);
    // The kernel's view: GSO packet with a partial checksum; cut it like a NIC would.
    uint32_t n = run_segment(&vh, m, total, 2 * 65536, 16384, r);
    REQUIRE(n == j - i);
    const uint8_t *o = r->out;
    for (uint32_t q = 0; q < n; q++) {
      REQUIRE(r->lens[q] == lens[i + q]);
      REQUIRE(memcmp(o, pk[i + q], lens[i + q]) == 0);
      o += r->lens[q];
    }
    free(r->out);
    free(m);
    free(hdr);
    i = j;
  }
  free(r);
  free(segs);
}

static void random_coalesce(uint32_t flows) {
  current = "coalesce";
  uint32_t merged_runs = 0, merged_segs = 0, total_segs = 0, rejected = 0;
  for (uint32_t f = 0; f < flows; f++) {
    tcp_t t;
    random_tcp(&t, chance(50));
    uint32_t k = 1 + below(chance(10) ? 300 : 40);
    size_t mss = chance(70) ? 1448 : 1 + below(chance(50) ? 3000 : 65000);
    uint8_t **pk = xmalloc(k * sizeof *pk);
    size_t *lens = xmalloc(k * sizeof *lens);
    int *valid = xmalloc(k * sizeof *valid);
    for (uint32_t i = 0; i < k; i++) {
      tcp_t s = t;
      size_t plen = chance(85) ? mss : below((uint32_t)mss + 1);
      s.flags = chance(8) ? 0x18 : 0x10;
      // Changes that must keep a segment out of a run (checksums stay valid).
      switch (chance(25) ? below(10) : 99) {
        case 0: s.seq += 1 + below(1000); break;
        case 1: s.flags = (uint8_t)(0x10 | 1 << below(8)); break;  // FIN, SYN, RST, URG, ECE, CWR...
        case 2: s.window++; break;
        case 3: s.ttl ^= 1; break;
        case 4: s.ack++; break;
        case 5: if (s.optlen) s.opts[below((uint32_t)s.optlen)] ^= 1; break;
        case 6: s.tos ^= 4; break;
        case 7: s.df = !s.df; break;
        case 8: s.dport++; break;
        case 9: plen = mss + 1 + below(100); break;
      }
      if (plen > 65000 - 100) plen = 65000 - 100;  // an IP packet holds at most 65535 bytes
      t.seq = s.seq + (uint32_t)plen;  // the next segment continues this one
      t.id++;
      pk[i] = build_tcp(&s, payload_pool + below(1000), plen, &lens[i]);
      valid[i] = 1;
      // Corruptions: the segment must then never be merged.
      if (chance(5)) {
        pk[i][below((uint32_t)lens[i])] ^= (uint8_t)(1 + below(255));
        valid[i] = ip_tcp_checksums_ok(pk[i], lens[i]) && (pk[i][0] >> 4) == (s.v6 ? 6 : 4);
      }
      if (chance(3)) {
        lens[i] = below((uint32_t)lens[i]);  // truncated (the block stays allocated; ASan
        uint8_t *cut = dup_exact(pk[i], lens[i]);  // sees the exact size after the copy)
        free(pk[i]);
        pk[i] = cut;
        valid[i] = 0;
      }
      if (chance(1)) {  // random bytes
        for (size_t b = 0; b < lens[i]; b++) pk[i][b] = (uint8_t)rnd();
        valid[i] = 0;
      }
      if (!valid[i]) rejected++;
    }
    total_segs += k;
    coalesce_flow(pk, lens, k, valid, &merged_runs, &merged_segs);
    for (uint32_t i = 0; i < k; i++) free(pk[i]);
    free(pk);
    free(lens);
    free(valid);
  }
  REQUIRE(merged_runs > flows / 4 && rejected > 0);
  printf("coalesce: %u flows, %u segments, %u merged in %u runs, %u corrupt never merged\n", flows, total_segs,
         merged_segs, merged_runs, rejected);
}

// Hand-made coalescing edges: corrupt checksums, wrong lengths, header fields.
static void edge_coalesce(void) {
  current = "coalesce-edge";
  tcp_t t;
  random_tcp(&t, 0);
  t.optlen = 12;
  size_t len;
  uint8_t *p = build_tcp(&t, payload_pool, 1000, &len);
  seg_t s;
  // A valid segment classifies; each single defect makes it unmergeable.
  s.p = p;
  s.len = len;
  classify_seg(&s);
  REQUIRE(s.tcp_hl == 32 && s.payload == 1000 && s.ip_hl == 20 && !s.v6);
  struct {
    size_t at;
    uint8_t value;
  } defects[] = {
      {0, 0x46},  {0, 0x44},     {0, 0x35},  {2, 0xff},  {6, 0x20} /* MF */, {7, 1} /* offset */,
      {9, 17},    {10, 0},       {11, 0},    {32, 0x40} /* doff 4 */,       {32, 0xf0} /* doff 15 */,
      {33, 0x11}, {33, 0x12},    {33, 0x14}, {33, 0x30}, {33, 0x50},         {33, 0x90},
      {36, 0},    {37, 0},       {100, 0x5a}};
  for (size_t i = 0; i < sizeof defects / sizeof defects[0]; i++) {
    uint8_t *q = dup_exact(p, len);
    if (q[defects[i].at] == defects[i].value) q[defects[i].at] ^= 0x80;
    else q[defects[i].at] = defects[i].value;
    s.p = q;
    s.len = len;
    classify_seg(&s);
    REQUIRE(s.tcp_hl == 0);
    free(q);
  }
  // Length mismatches and truncations: total length says more or less than we have.
  for (size_t l = 0; l < len; l++) {
    uint8_t *q = dup_exact(p, l);
    s.p = q;
    s.len = l;
    classify_seg(&s);
    REQUIRE(s.tcp_hl == 0);
    free(q);
  }
  // A pure ACK (no payload) is not merged either.
  free(p);
  p = build_tcp(&t, payload_pool, 0, &len);
  s.p = p;
  s.len = len;
  classify_seg(&s);
  REQUIRE(s.tcp_hl == 0);
  free(p);
  // The same for IPv6, including a payload length that disagrees.
  random_tcp(&t, 1);
  p = build_tcp(&t, payload_pool, 500, &len);
  s.p = p;
  s.len = len;
  classify_seg(&s);
  REQUIRE(s.tcp_hl == 20 + t.optlen && s.v6);
  uint8_t *q = dup_exact(p, len);
  q[5] ^= 1;
  s.p = q;
  classify_seg(&s);
  REQUIRE(s.tcp_hl == 0);
  free(q);
  free(p);
  // 64 segments of a flow merge into one run at most; a run never exceeds 65535 bytes.
  uint8_t *pk[200];
  size_t lens[200];
  int valid[200];
  uint32_t runs = 0, segs = 0;
  random_tcp(&t, 0);
  for (int i = 0; i < 200; i++) {
    pk[i] = build_tcp(&t, payload_pool, 100, &lens[i]);
    t.seq += 100;
    t.id++;
    valid[i] = 1;
  }
  coalesce_flow(pk, lens, 200, valid, &runs, &segs);
  REQUIRE(runs == 4 && segs == 200);  // 64 + 64 + 64 + 8
  for (int i = 0; i < 200; i++) free(pk[i]);
  random_tcp(&t, 1);
  t.optlen = 0;
  for (int i = 0; i < 60; i++) {
    pk[i] = build_tcp(&t, payload_pool, 8000, &lens[i]);
    t.seq += 8000;
    valid[i] = 1;
  }
  runs = segs = 0;
  coalesce_flow(pk, lens, 60, valid, &runs, &segs);
  REQUIRE(runs == 8 && segs == 60);  // 8 x 8000 bytes + headers fit in 65535, 9 do not
  for (int i = 0; i < 60; i++) free(pk[i]);
  printf("coalesce-edge: ok\n");
}

// ---- UDP GRO split ----------------------------------------------------------------------

static void random_gro(uint32_t cases) {
  current = "gro-split";
  uint32_t *lens = xmalloc(70000 * sizeof *lens);
  for (uint32_t c = 0; c < cases; c++) {
    uint32_t len = chance(10) ? below(3) : below(65537);
    uint32_t seg = chance(20) ? 0 : chance(20) ? len + below(3) : 1 + below(chance(50) ? 2000 : 70000);
    uint32_t room = chance(80) ? 70000 : below(100);
    uint32_t *out = xmalloc((size_t)room * sizeof *out);
    uint32_t n = gro_split(len, seg, out, room);
    REQUIRE(n <= room);
    uint64_t sum = 0;
    uint32_t eff = seg == 0 || seg > len ? len : seg;
    for (uint32_t i = 0; i < n; i++) {
      REQUIRE(out[i] > 0 && out[i] <= eff);
      if (i + 1 < n) REQUIRE(out[i] == eff);
      sum += out[i];
    }
    REQUIRE(sum <= len);
    uint32_t want = len == 0 ? 0 : (len + eff - 1) / eff;
    REQUIRE(n == (want < room ? want : room));
    if (n == want) REQUIRE(sum == len);
    free(out);
  }
  free(lens);
  printf("gro-split: %u cases\n", cases);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: harness <seed> <random cases>\n");
    return 2;
  }
  rng_state = strtoull(argv[1], NULL, 10) | 1;
  uint32_t cases = (uint32_t)strtoul(argv[2], NULL, 10);
  for (size_t i = 0; i < sizeof payload_pool; i++) payload_pool[i] = (uint8_t)rnd();
#ifdef KP_INJECT_OVERREAD
  {
    uint8_t *p = dup_exact(payload_pool, 40);
    volatile uint8_t past = p[40];  // one byte past the block: AddressSanitizer must stop here
    (void)past;
    free(p);
  }
#endif
#ifdef KP_INJECT_UB
  {
    int big = 0x7fffffff;
    big += argc;  // signed overflow: UBSan must stop here
    printf("%d\n", big);
  }
#endif
  setvbuf(stdout, NULL, _IOLBF, 0);
  clock_t t0 = clock();
  edge_segment();
  edge_coalesce();
  clock_t t1 = clock();
  random_segment(cases);
  clock_t t2 = clock();
  random_coalesce(cases / 50);
  clock_t t3 = clock();
  random_gro(cases / 10);
  clock_t t4 = clock();
  printf("all ok (cpu seconds: edges %.2f, segment %.2f, coalesce %.2f, gro %.2f)\n", (double)(t1 - t0) / CLOCKS_PER_SEC,
         (double)(t2 - t1) / CLOCKS_PER_SEC, (double)(t3 - t2) / CLOCKS_PER_SEC, (double)(t4 - t3) / CLOCKS_PER_SEC);
  return 0;
}
