// Pure packet functions of keyplane's native addon: TCP segmentation of TSO packets read
// from a TUN device, coalescing of TCP segments written to it, Internet checksums, and
// the split of UDP GRO super-datagrams. No system calls, no N-API, no global state, so
// test/native/harness.c can compile them alone with AddressSanitizer and UBSan and feed
// them malformed and random input (see docs/architecture.md "Native addon safety").
//
// Every length comes either from the kernel (TUN reads, GRO cmsgs) or from the network
// after ESP authentication (TUN writes): none is trusted, each is checked against the
// buffer it describes before a byte is read or written.

#ifndef KEYPLANE_SEGMENT_H
#define KEYPLANE_SEGMENT_H

#include <linux/virtio_net.h>
#include <stddef.h>
#include <stdint.h>

static inline uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

// RFC 1071 one's-complement sum of n bytes, added to sum (not folded). n is at most 64 KiB
// here, so the 32-bit accumulator cannot overflow (32768 words * 0xffff < 2^31).
uint32_t sum16(const uint8_t *p, size_t n, uint32_t sum);
uint16_t fold(uint32_t sum);

// ---- tunWrite coalescing (receive-side, like the kernel's tcp_gro_receive) ----

#define GRO_MAX_SEGS 64       // segments merged into one GSO write
#define GRO_MAX_BYTES 65535   // largest merged IP packet
#define COALESCE_HDR_MAX 100  // IPv6 fixed header (40) + TCP header with options (60)

typedef struct {
  uint8_t *p;  // the packet (a view into a JS buffer); len bytes
  size_t len;
  int v6;
  size_t ip_hl, tcp_hl;  // header lengths; tcp_hl 0 = not a mergeable TCP segment
  uint32_t seq;
  size_t payload;
} seg_t;

// Sets every field of s from s->p / s->len; tcp_hl = 0 unless the packet may join a run.
void classify_seg(seg_t *s);
// May b follow a in one coalesced segment whose segments carry mss bytes each?
int continues(const seg_t *a, const seg_t *b, size_t mss);
// The run that starts at segs[i] (i < k): returns j > i such that segs[i..j) merge into
// one packet of *total bytes (headers of segs[i] + all payloads); j == i + 1 = no merge.
uint32_t coalesce_run(const seg_t *segs, uint32_t i, uint32_t k, size_t *total);
// Headers of the merged packet for the run segs[i..j) (j - i >= 2) of `total` bytes: writes
// them to hdr (COALESCE_HDR_MAX bytes) and fills *vh; returns the header length.
size_t coalesce_header(const seg_t *segs, uint32_t i, uint32_t j, size_t total, uint8_t *hdr,
                       struct virtio_net_hdr *vh);

// ---- TSO from the kernel ----

// Cuts one packet read from an IFF_VNET_HDR TUN device (pkt, len bytes, after the header
// vh) into the packets a NIC would have sent, into out (out_cap bytes), their lengths into
// lens (at most max_out). Returns the number of packets, or 0 to drop a malformed packet.
uint32_t tun_segment(const struct virtio_net_hdr *vh, const uint8_t *pkt, size_t len, uint8_t *out,
                     size_t out_cap, uint32_t *lens, uint32_t max_out);

// ---- UDP GRO ----

// Lengths of the datagrams in a GRO super-datagram of len bytes with segment size seg
// (from the UDP_GRO cmsg; 0 or >= len = one datagram). Writes at most room lengths;
// returns how many.
uint32_t gro_split(uint32_t len, uint32_t seg, uint32_t *lens, uint32_t room);

#endif
