// Pure packet functions of keyplane's native addon; see segment.h.

#include "segment.h"

#include <string.h>

uint32_t sum16(const uint8_t *p, size_t n, uint32_t sum) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (n & 1) sum += (uint32_t)(p[n - 1] << 8);
  return sum;
}

uint16_t fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)sum;
}

// ---------------------------------------------------------------------------------------
// Coalescing. A packet can be part of a coalesced run if it is IPv4 without options and
// fragments, or IPv6 with TCP as the first next header; TCP with only ACK (and PSH) set
// and a payload; and its checksums verify. Anything else gets tcp_hl = 0 and is written
// on its own.

void classify_seg(seg_t *s) {
  // Safety: every field is set, so the run search never reads a stale or uninitialised
  // payload/seq of a packet that was rejected (the struct lives in a reused stack array).
  s->v6 = 0;
  s->ip_hl = 0;
  s->tcp_hl = 0;
  s->seq = 0;
  s->payload = 0;
  const uint8_t *p = s->p;
  if (s->len < 20) return;
  if ((p[0] >> 4) == 4) {
    if (p[0] != 0x45 || p[9] != 6 || (be16(p + 6) & 0x3fff) != 0 || be16(p + 2) != s->len) return;
    // The merged packet gets a fresh header checksum: a corrupt header must not merge.
    if (fold(sum16(p, 20, 0)) != 0xffff) return;
    s->ip_hl = 20;
  } else if ((p[0] >> 4) == 6) {
    if (s->len < 40 || p[6] != 6 || (size_t)be16(p + 4) + 40 != s->len) return;
    s->v6 = 1;
    s->ip_hl = 40;
  } else {
    return;
  }
  if (s->len < s->ip_hl + 20) return;
  const uint8_t *t = p + s->ip_hl;
  size_t hl = (size_t)(t[12] >> 4) * 4;
  uint8_t flags = t[13];
  if (hl < 20 || s->len < s->ip_hl + hl) return;
  if ((flags & ~0x08) != 0x10) return;  // ACK, optionally PSH; no SYN/FIN/RST/URG/ECE/CWR
  if (s->len == s->ip_hl + hl) return;   // pure ACK: nothing to coalesce
  // The merged packet is written with VIRTIO_NET_HDR_F_NEEDS_CSUM, so the kernel computes
  // a new TCP checksum over it instead of checking the old ones. Like the kernel's own GRO
  // (which merges only checksum-validated segments), a segment whose TCP checksum is wrong
  // is therefore not merged: written alone, it is checked and dropped by the kernel as it
  // would be without coalescing. Without this check coalescing "repaired" corrupt data.
  size_t tcp_len = s->len - s->ip_hl;
  uint32_t pseudo = s->v6 ? sum16(p + 8, 32, 0) : sum16(p + 12, 8, 0);
  pseudo += 6 + (uint32_t)(tcp_len >> 16) + (uint32_t)(tcp_len & 0xffff);
  if (fold(sum16(t, tcp_len, pseudo)) != 0xffff) return;
  s->tcp_hl = hl;
  s->seq = be32(t + 4);
  s->payload = s->len - s->ip_hl - hl;
}

int continues(const seg_t *a, const seg_t *b, size_t mss) {
  if (!b->tcp_hl || b->v6 != a->v6 || b->tcp_hl != a->tcp_hl || b->payload > mss) return 0;
  if (a->p[a->ip_hl + 13] & 0x08) return 0;  // a PSH segment ends a run
  if (a->seq + (uint32_t)a->payload != b->seq) return 0;
  const uint8_t *x = a->p, *y = b->p;
  if (!a->v6) {
    // TOS, TTL, protocol, addresses, DF flag
    if (x[1] != y[1] || x[8] != y[8] || memcmp(x + 12, y + 12, 8) != 0 || (x[6] & 0x40) != (y[6] & 0x40)) return 0;
  } else {
    // traffic class + flow label, hop limit, addresses
    if (memcmp(x, y, 4) != 0 || x[7] != y[7] || memcmp(x + 8, y + 8, 32) != 0) return 0;
  }
  const uint8_t *ta = x + a->ip_hl, *tb = y + b->ip_hl;
  // ports, ack number, window, and identical options (e.g. timestamps)
  if (memcmp(ta, tb, 4) != 0 || memcmp(ta + 8, tb + 8, 4) != 0 || memcmp(ta + 14, tb + 14, 2) != 0) return 0;
  if (memcmp(ta + 20, tb + 20, a->tcp_hl - 20) != 0) return 0;
  return 1;
}

uint32_t coalesce_run(const seg_t *segs, uint32_t i, uint32_t k, size_t *total) {
  uint32_t j = i + 1;
  size_t mss = segs[i].payload;
  *total = segs[i].len;
  if (!segs[i].tcp_hl) return j;
  // continues() first: it checks that segs[j] is a classified segment before its payload
  // is added (the payload of a rejected packet means nothing).
  while (j < k && j - i < GRO_MAX_SEGS && continues(&segs[j - 1], &segs[j], mss) &&
         *total + segs[j].payload <= GRO_MAX_BYTES) {
    *total += segs[j].payload;
    j++;
    if (segs[j - 1].payload < mss) break;  // a short segment ends a run
  }
  return j;
}

size_t coalesce_header(const seg_t *segs, uint32_t i, uint32_t j, size_t total, uint8_t *hdr,
                       struct virtio_net_hdr *vh) {
  // Headers of the merged segment: the first segment's, with lengths and checksums for the
  // whole run; PSH if the last segment had it.
  const seg_t *f = &segs[i];
  size_t hl = f->ip_hl + f->tcp_hl;  // <= 40 + 60 = COALESCE_HDR_MAX
  memcpy(hdr, f->p, hl);
  uint8_t *t = hdr + f->ip_hl;
  t[13] |= segs[j - 1].p[segs[j - 1].ip_hl + 13] & 0x08;
  size_t tcp_len = total - f->ip_hl;
  uint32_t pseudo;
  memset(vh, 0, sizeof *vh);
  if (!f->v6) {
    put16(hdr + 2, (uint16_t)total);
    hdr[10] = hdr[11] = 0;
    put16(hdr + 10, (uint16_t)~fold(sum16(hdr, 20, 0)));
    pseudo = sum16(hdr + 12, 8, 0) + 6 + (uint32_t)tcp_len;
    vh->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
  } else {
    put16(hdr + 4, (uint16_t)tcp_len);
    pseudo = sum16(hdr + 8, 32, 0) + 6 + (uint32_t)tcp_len;
    vh->gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
  }
  // CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum, not inverted.
  put16(t + 16, fold(pseudo));
  vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  vh->hdr_len = (uint16_t)hl;
  vh->gso_size = (uint16_t)f->payload;
  vh->csum_start = (uint16_t)f->ip_hl;
  vh->csum_offset = 16;
  return hl;
}

// ---------------------------------------------------------------------------------------
// TSO from the kernel (TUN_F_TSO4/6 + TUN_F_CSUM): a packet read from the device may be
// one large TCP segment (gso_type TCPV4/TCPV6, gso_size = MSS) or carry a partial checksum
// (VIRTIO_NET_HDR_F_NEEDS_CSUM). tun_segment() writes the packets a NIC would have sent:
// each MSS-sized piece with its own IP/TCP header (sequence number advanced, IPv4 id
// incremented, lengths set, FIN/PSH only on the last piece, CWR only on the first) and
// complete checksums.

uint32_t tun_segment(const struct virtio_net_hdr *vh, const uint8_t *pkt, size_t len, uint8_t *out,
                     size_t out_cap, uint32_t *lens, uint32_t max_out) {
  if (vh->gso_type == VIRTIO_NET_HDR_GSO_NONE) {
    if (len > out_cap || max_out < 1) return 0;
    memcpy(out, pkt, len);
    if (vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
      // Complete a partial checksum: the field holds the pseudo-header sum already.
      size_t start = vh->csum_start, at = (size_t)vh->csum_start + vh->csum_offset;
      if (start >= len || at + 2 > len) return 0;
      uint16_t c = (uint16_t)~fold(sum16(out + start, len - start, 0));
      put16(out + at, c);
    }
    lens[0] = (uint32_t)len;
    return 1;
  }
  int v6 = (vh->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) == VIRTIO_NET_HDR_GSO_TCPV6;
  if (!v6 && (vh->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) != VIRTIO_NET_HDR_GSO_TCPV4) return 0;
  if (len < 20 || vh->gso_size == 0) return 0;
  size_t ip_hl;
  if (!v6) {
    if ((pkt[0] >> 4) != 4) return 0;
    ip_hl = (size_t)(pkt[0] & 15) * 4;
    // IHL < 5 is not IPv4 (RFC 791: minimum 5 words). The bytes read below stay inside
    // the packet either way, but the pieces would get their lengths and checksums written
    // over TCP header bytes: drop it.
    if (ip_hl < 20) return 0;
  } else {
    if ((pkt[0] >> 4) != 6 || pkt[6] != 6) return 0;  // TCP right after the fixed header only
    ip_hl = 40;
  }
  if (len < ip_hl + 20) return 0;
  size_t tcp_hl = (size_t)(pkt[ip_hl + 12] >> 4) * 4;
  size_t hl = ip_hl + tcp_hl;
  if (tcp_hl < 20 || len < hl) return 0;
  size_t mss = vh->gso_size, payload = len - hl;
  uint32_t seq = be32(pkt + ip_hl + 4);
  uint16_t id = v6 ? 0 : be16(pkt + 4);
  uint8_t flags = pkt[ip_hl + 13];
  uint32_t n = 0;
  size_t used = 0;
  for (size_t off = 0; off < payload || (payload == 0 && n == 0); off += mss) {
    size_t piece = payload - off < mss ? payload - off : mss;
    if (n >= max_out || used + hl + piece > out_cap) return 0;
    uint8_t *o = out + used;
    memcpy(o, pkt, hl);
    memcpy(o + hl, pkt + hl + off, piece);
    size_t total = hl + piece;
    uint8_t *t = o + ip_hl;
    int last = off + piece >= payload;
    uint8_t f = flags;
    if (!last) f &= (uint8_t)~0x09;  // FIN, PSH only on the last piece
    if (off > 0) f &= (uint8_t)~0x80;  // CWR only on the first
    t[13] = f;
    uint32_t sq = seq + (uint32_t)off;
    t[4] = (uint8_t)(sq >> 24);
    t[5] = (uint8_t)(sq >> 16);
    t[6] = (uint8_t)(sq >> 8);
    t[7] = (uint8_t)sq;
    uint32_t pseudo;
    if (!v6) {
      put16(o + 2, (uint16_t)total);
      put16(o + 4, (uint16_t)(id + n));
      o[10] = o[11] = 0;
      put16(o + 10, (uint16_t)~fold(sum16(o, ip_hl, 0)));
      pseudo = sum16(o + 12, 8, 0) + 6 + (uint32_t)(total - ip_hl);
    } else {
      put16(o + 4, (uint16_t)(total - ip_hl));
      pseudo = sum16(o + 8, 32, 0) + 6 + (uint32_t)(total - ip_hl);
    }
    t[16] = t[17] = 0;
    put16(t + 16, (uint16_t)~fold(sum16(t, total - ip_hl, pseudo)));
    lens[n++] = (uint32_t)total;
    used += total;
    if (payload == 0) break;
  }
  return n;
}

uint32_t gro_split(uint32_t len, uint32_t seg, uint32_t *lens, uint32_t room) {
  if (seg == 0 || seg > len) seg = len;
  uint32_t n = 0;
  for (uint32_t off = 0; off < len && n < room; off += seg) lens[n++] = len - off < seg ? len - off : seg;
  return n;
}
