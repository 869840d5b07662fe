// keyplane's minimal native addon (Linux only): TUN devices and batched packet I/O.
//
// Why native at all: opening a TUN device needs the TUNSETIFF ioctl, which Node cannot
// issue. Why the reader thread and batches: the userspace data plane must move hundreds
// of thousands of packets per second through one JavaScript thread; one JS call per
// packet (and one libuv threadpool round trip per read) costs more than the ESP work
// itself. A reader thread blocks in poll(2), drains the descriptor with non-blocking
// read(2) / recvmmsg(2) into one memory block, and hands the whole batch to JavaScript
// through a thread-safe function. Writes are synchronous and batched: write(2) per packet
// for TUN (the kernel takes one packet per write), sendmmsg(2) for UDP.
//
// Written against node_api.h only (N-API version 8), no C++ and no npm dependency.
// See docs/dependencies.md "TUN device".

#define NAPI_VERSION 8
#define _GNU_SOURCE
#include <node_api.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_PACKET 65536           // largest IP packet / UDP datagram we read
#define TUN_SCRATCH (512 * 1024)   // one TUN batch is read into this much memory
#define UDP_META 20                // per datagram: family, flags, port, 16 address bytes
#define MAX_BATCH 256
#define MAX_INFLIGHT 4             // batches queued to JS before the reader waits

#define KIND_TUN 0
#define KIND_UDP 1
#define KIND_TUN_VNET 2  // a TUN device opened with IFF_VNET_HDR: strip the header

// ---------------------------------------------------------------------------------------
// Errors: a JS Error with .errno (positive number) and .syscall; the TypeScript wrapper
// turns it into a KeyplaneError with a readable message.

static napi_value throw_errno(napi_env env, const char *syscall, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", syscall, strerror(err));
  napi_value message, error, num, sc;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, NULL, message, &error);
  napi_create_int32(env, err, &num);
  napi_set_named_property(env, error, "errno", num);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sc);
  napi_set_named_property(env, error, "syscall", sc);
  napi_throw(env, error);
  return NULL;
}

static napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, NULL, msg);
  return NULL;
}

static int get_i32(napi_env env, napi_value v, int32_t *out) {
  return napi_get_value_int32(env, v, out) == napi_ok;
}

// Reads a JS string argument into buf (NUL-terminated). Returns 0 if not a string or too long.
static int get_str(napi_env env, napi_value v, char *buf, size_t cap, size_t *len) {
  size_t n = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &n) != napi_ok) return 0;
  if (n + 1 > cap) return 0;
  napi_get_value_string_utf8(env, v, buf, cap, &n);
  if (len) *len = n;
  return 1;
}

static int get_bytes(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  bool is_ta = false;
  napi_is_typedarray(env, v, &is_ta);
  if (!is_ta) return 0;
  napi_typedarray_type type;
  size_t length, offset;
  napi_value ab;
  void *p;
  if (napi_get_typedarray_info(env, v, &type, &length, &p, &ab, &offset) != napi_ok) return 0;
  if (type != napi_uint8_array) return 0;
  *data = p;
  *len = length;
  return 1;
}

// ---------------------------------------------------------------------------------------
// openTun(name: string, mtu: number, vnetHdr: boolean) -> { fd, name }
// name "" lets the kernel choose ("tun%d"). mtu 0 leaves the kernel default.
// vnetHdr: every read and write carries a struct virtio_net_hdr first (IFF_VNET_HDR), which
// lets tunWrite hand the kernel coalesced TCP segments (see tunWrite), and the device
// offers checksum offload and TSO (TUNSETOFFLOAD): the local TCP stack then sends one
// large segment per burst, which the reader thread cuts into MTU-sized packets with
// complete checksums (see tun_segment) — on its own thread, before JavaScript sees them.
// The device is brought up; addresses and routes are the caller's business (ip(8)).

static napi_value open_tun(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2) return throw_type(env, "openTun(name, mtu, vnetHdr)");
  bool vnet = false;
  if (argc >= 3) napi_get_value_bool(env, argv[2], &vnet);
  char name[IFNAMSIZ];
  size_t name_len = 0;
  if (!get_str(env, argv[0], name, sizeof name, &name_len)) {
    return throw_errno(env, "TUNSETIFF", ENAMETOOLONG);
  }
  int32_t mtu = 0;
  if (!get_i32(env, argv[1], &mtu)) return throw_type(env, "mtu must be a number");

  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return throw_errno(env, "open /dev/net/tun", errno);

  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0);
  memcpy(ifr.ifr_name, name, name_len);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "TUNSETIFF", err);
  }
  if (vnet && ioctl(fd, TUNSETOFFLOAD, (unsigned long)(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6)) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "TUNSETOFFLOAD", err);
  }
  char actual[IFNAMSIZ + 1];
  memcpy(actual, ifr.ifr_name, IFNAMSIZ);
  actual[IFNAMSIZ] = 0;

  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "socket", err);
  }
  struct ifreq req;
  memset(&req, 0, sizeof req);
  memcpy(req.ifr_name, actual, IFNAMSIZ);
  if (mtu > 0) {
    req.ifr_mtu = mtu;
    if (ioctl(sock, SIOCSIFMTU, &req) < 0) {
      int err = errno;
      close(sock);
      close(fd);
      return throw_errno(env, "SIOCSIFMTU", err);
    }
  }
  if (ioctl(sock, SIOCGIFFLAGS, &req) < 0 ||
      (req.ifr_flags |= IFF_UP | IFF_RUNNING, ioctl(sock, SIOCSIFFLAGS, &req) < 0)) {
    int err = errno;
    close(sock);
    close(fd);
    return throw_errno(env, "SIOCSIFFLAGS", err);
  }
  close(sock);

  napi_value result, vfd, vname;
  napi_create_object(env, &result);
  napi_create_int32(env, fd, &vfd);
  napi_create_string_utf8(env, actual, NAPI_AUTO_LENGTH, &vname);
  napi_set_named_property(env, result, "fd", vfd);
  napi_set_named_property(env, result, "name", vname);
  return result;
}

// closeFd(fd)
static napi_value close_fd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  if (argc < 1 || !get_i32(env, argv[0], &fd)) return throw_type(env, "closeFd(fd)");
  if (close(fd) < 0) return throw_errno(env, "close", errno);
  return NULL;
}

// setBlocking(fd, blocking): only for the simple one-read-per-call path that
// bench/e2e-tun-io.ts measures against the reader thread.
static napi_value set_blocking(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  bool blocking = false;
  if (argc < 2 || !get_i32(env, argv[0], &fd) || napi_get_value_bool(env, argv[1], &blocking) != napi_ok) {
    return throw_type(env, "setBlocking(fd, blocking)");
  }
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, blocking ? (flags & ~O_NONBLOCK) : (flags | O_NONBLOCK)) < 0) {
    return throw_errno(env, "fcntl", errno);
  }
  return NULL;
}

// ---------------------------------------------------------------------------------------
// Socket addresses are passed around as opaque Buffers made once per peer by sockaddr().

static int parse_addr(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len) {
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    *len = sizeof *a4;
    return 1;
  }
  char buf[INET6_ADDRSTRLEN + IFNAMSIZ + 2];
  if (strlen(host) >= sizeof buf) return 0;
  strcpy(buf, host);
  char *pct = strchr(buf, '%');
  if (pct) *pct = 0;
  if (inet_pton(AF_INET6, buf, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)port);
    if (pct) a6->sin6_scope_id = if_nametoindex(pct + 1);
    *len = sizeof *a6;
    return 1;
  }
  return 0;
}

// sockaddr(host, port) -> Buffer
static napi_value make_sockaddr(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char host[128];
  int32_t port;
  if (argc < 2 || !get_str(env, argv[0], host, sizeof host, NULL) || !get_i32(env, argv[1], &port)) {
    return throw_type(env, "sockaddr(host, port)");
  }
  struct sockaddr_storage ss;
  socklen_t len;
  if (port < 0 || port > 65535 || !parse_addr(host, port, &ss, &len)) return throw_errno(env, "inet_pton", EINVAL);
  napi_value buf;
  napi_create_buffer_copy(env, len, &ss, NULL, &buf);
  return buf;
}

// udpOpen(host, port, bufferBytes, gro) -> { fd, port, gro }
// gro: ask for UDP_GRO (Linux 5.0+) so that bursts arrive as one super-datagram that the
// reader splits; `gro` in the result says whether the kernel accepted.
static napi_value udp_open(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char host[128];
  int32_t port, bufsize;
  if (argc < 3 || !get_str(env, argv[0], host, sizeof host, NULL) || !get_i32(env, argv[1], &port) ||
      !get_i32(env, argv[2], &bufsize)) {
    return throw_type(env, "udpOpen(host, port, bufferBytes)");
  }
  struct sockaddr_storage ss;
  socklen_t len;
  if (port < 0 || port > 65535 || !parse_addr(host, port, &ss, &len)) return throw_errno(env, "inet_pton", EINVAL);
  int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  int one = 1;
  if (ss.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  bool want_gro = false;
  if (argc >= 4) napi_get_value_bool(env, argv[3], &want_gro);
  bool gro = want_gro && setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof one) == 0;
  if (bufsize > 0) {
    // FORCE variants need CAP_NET_ADMIN; fall back to the capped ones.
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bufsize, sizeof bufsize) < 0)
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof bufsize);
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bufsize, sizeof bufsize) < 0)
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof bufsize);
  }
  if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "bind", err);
  }
  struct sockaddr_storage bound;
  socklen_t blen = sizeof bound;
  getsockname(fd, (struct sockaddr *)&bound, &blen);
  int bport = ntohs(bound.ss_family == AF_INET ? ((struct sockaddr_in *)&bound)->sin_port
                                               : ((struct sockaddr_in6 *)&bound)->sin6_port);
  napi_value result, vfd, vport, vgro;
  napi_create_object(env, &result);
  napi_create_int32(env, fd, &vfd);
  napi_create_int32(env, bport, &vport);
  napi_get_boolean(env, gro, &vgro);
  napi_set_named_property(env, result, "fd", vfd);
  napi_set_named_property(env, result, "port", vport);
  napi_set_named_property(env, result, "gro", vgro);
  return result;
}

// ---------------------------------------------------------------------------------------
// Batched writes. Both return the number of packets the kernel accepted; the caller
// counts the rest as drops. Neither ever blocks for long: a full UDP send buffer gets a
// short poll(2) before the remainder is given up (the inner transport retransmits).

// tunWrite(fd, packets: Uint8Array[], mode) -> number of packets the kernel accepted
//   mode 0: plain device: one write(2) per packet.
//   mode 1: IFF_VNET_HDR device: writev(2) of an empty virtio_net_hdr + the packet.
//   mode 2: as 1, and runs of TCP segments of one flow that continue each other are
//           coalesced into one large segment that the kernel takes as a GSO packet
//           (receive-side coalescing like the kernel's own GRO, tcp_gro_receive()): its
//           TCP/IP stack then handles one packet instead of dozens. Every segment was
//           already authenticated by ESP; the merged packet is marked NEEDS_CSUM, so the
//           kernel completes (or, when forwarding, recomputes per segment) the checksum.

typedef struct {
  uint8_t *p;
  size_t len;
  int v6;
  size_t ip_hl, tcp_hl;  // header lengths; tcp_hl 0 = not a mergeable TCP segment
  uint32_t seq;
  size_t payload;
} seg_t;

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

// Fills s for a packet that could be part of a coalesced run: IPv4 without options and
// fragments, or IPv6 with TCP as the first next header; TCP with only ACK (and PSH) set
// and a payload. Anything else gets tcp_hl = 0 and is written on its own.
static void classify_seg(seg_t *s) {
  s->tcp_hl = 0;
  const uint8_t *p = s->p;
  if (s->len < 20) return;
  if ((p[0] >> 4) == 4) {
    if (p[0] != 0x45 || p[9] != 6 || (be16(p + 6) & 0x3fff) != 0 || be16(p + 2) != s->len) return;
    s->v6 = 0;
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
  s->tcp_hl = hl;
  s->seq = be32(t + 4);
  s->payload = s->len - s->ip_hl - hl;
}

// May b follow a in one coalesced segment whose segments carry `mss` bytes each?
static int continues(const seg_t *a, const seg_t *b, size_t mss) {
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

static uint32_t sum16(const uint8_t *p, size_t n, uint32_t sum) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (n & 1) sum += (uint32_t)(p[n - 1] << 8);
  return sum;
}

static uint16_t fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)sum;
}

#define GRO_MAX_SEGS 64
#define GRO_MAX_BYTES 65535

static napi_value tun_write(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd, mode = 0;
  bool is_array = false;
  if (argc < 2 || !get_i32(env, argv[0], &fd) || napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array) {
    return throw_type(env, "tunWrite(fd, packets[], mode)");
  }
  if (argc >= 3) get_i32(env, argv[2], &mode);
  uint32_t n;
  napi_get_array_length(env, argv[1], &n);
  uint32_t ok = 0;
  enum { CHUNK = 256 };
  seg_t segs[CHUNK];
  for (uint32_t base = 0; base < n; base += CHUNK) {
    uint32_t k = n - base < CHUNK ? n - base : CHUNK;
    for (uint32_t i = 0; i < k; i++) {
      napi_value el;
      napi_get_element(env, argv[1], base + i, &el);
      if (!get_bytes(env, el, &segs[i].p, &segs[i].len)) return throw_type(env, "packets must be Uint8Arrays");
      if (mode == 2) classify_seg(&segs[i]);
      else segs[i].tcp_hl = 0;
    }
    for (uint32_t i = 0; i < k;) {
      uint32_t j = i + 1;
      ssize_t w;
      if (mode == 0) {
        do {
          w = write(fd, segs[i].p, segs[i].len);
        } while (w < 0 && errno == EINTR);
        if (w == (ssize_t)segs[i].len) ok++;
        i = j;
        continue;
      }
      struct virtio_net_hdr vh;
      memset(&vh, 0, sizeof vh);
      size_t mss = segs[i].payload, total = segs[i].len;
      if (segs[i].tcp_hl) {
        while (j < k && j - i < GRO_MAX_SEGS && total + segs[j].payload <= GRO_MAX_BYTES &&
               continues(&segs[j - 1], &segs[j], mss)) {
          total += segs[j].payload;
          j++;
          if (segs[j - 1].payload < mss) break;  // a short segment ends a run
        }
      }
      if (j - i == 1) {
        struct iovec v[2] = {{&vh, sizeof vh}, {segs[i].p, segs[i].len}};
        do {
          w = writev(fd, v, 2);
        } while (w < 0 && errno == EINTR);
        if (w == (ssize_t)(sizeof vh + segs[i].len)) ok++;
        i = j;
        continue;
      }
      // Headers of the merged segment: the first segment's, with lengths and checksums
      // for the whole run; PSH if the last segment had it.
      const seg_t *f = &segs[i];
      size_t hl = f->ip_hl + f->tcp_hl;
      uint8_t hdr[40 + 60];
      memcpy(hdr, f->p, hl);
      uint8_t *t = hdr + f->ip_hl;
      t[13] |= segs[j - 1].p[segs[j - 1].ip_hl + 13] & 0x08;
      size_t tcp_len = total - f->ip_hl;
      uint32_t pseudo;
      if (!f->v6) {
        hdr[2] = (uint8_t)(total >> 8);
        hdr[3] = (uint8_t)total;
        hdr[10] = hdr[11] = 0;
        uint16_t c = (uint16_t)~fold(sum16(hdr, 20, 0));
        hdr[10] = (uint8_t)(c >> 8);
        hdr[11] = (uint8_t)c;
        pseudo = sum16(hdr + 12, 8, 0) + 6 + (uint32_t)tcp_len;
        vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
      } else {
        hdr[4] = (uint8_t)(tcp_len >> 8);
        hdr[5] = (uint8_t)tcp_len;
        pseudo = sum16(hdr + 8, 32, 0) + 6 + (uint32_t)tcp_len;
        vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
      }
      // CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum, not inverted.
      uint16_t ps = fold(pseudo);
      t[16] = (uint8_t)(ps >> 8);
      t[17] = (uint8_t)ps;
      vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
      vh.hdr_len = (uint16_t)hl;
      vh.gso_size = (uint16_t)mss;
      vh.csum_start = (uint16_t)f->ip_hl;
      vh.csum_offset = 16;
      struct iovec v[2 + GRO_MAX_SEGS];
      v[0].iov_base = &vh;
      v[0].iov_len = sizeof vh;
      v[1].iov_base = hdr;
      v[1].iov_len = hl;
      for (uint32_t q = i; q < j; q++) {
        v[2 + q - i].iov_base = segs[q].p + segs[q].ip_hl + segs[q].tcp_hl;
        v[2 + q - i].iov_len = segs[q].payload;
      }
      do {
        w = writev(fd, v, (int)(2 + j - i));
      } while (w < 0 && errno == EINTR);
      if (w == (ssize_t)(sizeof vh + total)) ok += j - i;
      i = j;
    }
  }
  napi_value result;
  napi_create_uint32(env, ok, &result);
  return result;
}

// UDP generic segmentation offload (Linux 4.18+): consecutive datagrams to the same peer
// with the same length leave in one sendmsg with a UDP_SEGMENT control message; the kernel
// runs them through the UDP/IP stack once and splits them as late as possible (in the
// NIC, or in software at the device). On the wire they are the same datagrams as before.
// Turned off for good on the first error that says the path cannot do it.
#define GSO_MAX_SEGMENTS 64
#define GSO_MAX_BYTES 65000
static int gso_disabled = 0;

// udpSend(fd, packets: Uint8Array[], addrs: Buffer[] (from sockaddr), gso: boolean) -> number
static napi_value udp_send(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  bool a1 = false, a2 = false, want_gso = false;
  if (argc < 3 || !get_i32(env, argv[0], &fd) || napi_is_array(env, argv[1], &a1) != napi_ok || !a1 ||
      napi_is_array(env, argv[2], &a2) != napi_ok || !a2) {
    return throw_type(env, "udpSend(fd, packets[], addrs[], gso)");
  }
  if (argc >= 4) napi_get_value_bool(env, argv[3], &want_gso);
  uint32_t n, m;
  napi_get_array_length(env, argv[1], &n);
  napi_get_array_length(env, argv[2], &m);
  if (m != n) return throw_type(env, "udpSend: packets and addrs differ in length");

  enum { CHUNK = 256 };
  struct iovec iov[CHUNK];
  uint8_t *addr_of[CHUNK];
  size_t alen_of[CHUNK];
  struct mmsghdr msgs[CHUNK];
  uint32_t msg_packets[CHUNK];  // datagrams carried by each message
  union {
    char buf[CMSG_SPACE(sizeof(uint16_t))];
    struct cmsghdr align;
  } ctrl[CHUNK];
  uint32_t sent = 0;

  for (uint32_t base = 0; base < n; base += CHUNK) {
    uint32_t k = n - base < CHUNK ? n - base : CHUNK;
    for (uint32_t i = 0; i < k; i++) {
      napi_value p, a;
      uint8_t *data;
      size_t len;
      napi_get_element(env, argv[1], base + i, &p);
      napi_get_element(env, argv[2], base + i, &a);
      if (!get_bytes(env, p, &data, &len) || !get_bytes(env, a, &addr_of[i], &alen_of[i])) {
        return throw_type(env, "udpSend: packets and addrs must be Uint8Arrays");
      }
      iov[i].iov_base = data;
      iov[i].iov_len = len;
    }
    // Group into messages.
    uint32_t nmsg = 0;
    for (uint32_t i = 0; i < k;) {
      uint32_t j = i + 1;
      size_t seg = iov[i].iov_len, total = seg;
      if (want_gso && !gso_disabled) {
        while (j < k && j - i < GSO_MAX_SEGMENTS && alen_of[j] == alen_of[i] &&
               memcmp(addr_of[j], addr_of[i], alen_of[i]) == 0 && iov[j].iov_len <= seg &&
               total + iov[j].iov_len <= GSO_MAX_BYTES) {
          total += iov[j].iov_len;
          j++;
          if (iov[j - 1].iov_len < seg) break;  // only the last segment may be shorter
        }
      }
      struct msghdr *h = &msgs[nmsg].msg_hdr;
      memset(&msgs[nmsg], 0, sizeof msgs[nmsg]);
      h->msg_name = addr_of[i];
      h->msg_namelen = (socklen_t)alen_of[i];
      h->msg_iov = &iov[i];
      h->msg_iovlen = j - i;
      if (j - i > 1) {
        h->msg_control = ctrl[nmsg].buf;
        h->msg_controllen = sizeof ctrl[nmsg].buf;
        struct cmsghdr *c = CMSG_FIRSTHDR(h);
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t gso = (uint16_t)seg;
        memcpy(CMSG_DATA(c), &gso, sizeof gso);
      }
      msg_packets[nmsg++] = j - i;
      i = j;
    }
    uint32_t done = 0;
    int tries = 0;
    while (done < nmsg) {
      int r = sendmmsg(fd, msgs + done, nmsg - done, 0);
      if (r > 0) {
        for (int q = 0; q < r; q++) sent += msg_packets[done + q];
        done += (uint32_t)r;
        continue;
      }
      int err = errno;
      if (r < 0 && err == EINTR) continue;
      if (r < 0 && (err == EAGAIN || err == ENOBUFS)) {
        if (tries++ >= 3) break;  // give the rest up; the inner transport retransmits
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        poll(&pfd, 1, 5);
        continue;
      }
      struct msghdr *h = &msgs[done].msg_hdr;
      if (h->msg_iovlen > 1 && (err == EIO || err == EINVAL || err == EOPNOTSUPP || err == ENOPROTOOPT)) {
        // The route or kernel cannot segment: send this group one datagram at a time.
        gso_disabled = 1;
        for (size_t q = 0; q < h->msg_iovlen; q++) {
          struct msghdr one = {.msg_name = h->msg_name, .msg_namelen = h->msg_namelen, .msg_iov = &h->msg_iov[q], .msg_iovlen = 1};
          ssize_t w;
          do {
            w = sendmsg(fd, &one, 0);
          } while (w < 0 && errno == EINTR);
          if (w >= 0) sent++;
        }
      }
      done++;  // a datagram the kernel refuses (EMSGSIZE, unreachable...): skip it
    }
  }
  napi_value result;
  napi_create_uint32(env, sent, &result);
  return result;
}


// ---------------------------------------------------------------------------------------
// TSO from the kernel (TUN_F_TSO4/6 + TUN_F_CSUM): a packet read from the device may be
// one large TCP segment (gso_type TCPV4/TCPV6, gso_size = MSS) or carry a partial checksum
// (VIRTIO_NET_HDR_F_NEEDS_CSUM). tun_segment() writes the packets a NIC would have sent:
// each MSS-sized piece with its own IP/TCP header (sequence number advanced, IPv4 id
// incremented, lengths set, FIN/PSH only on the last piece, CWR only on the first) and
// complete checksums. Returns the number of packets written to out (lengths in lens), or
// 0 when the packet is malformed (dropped).

static void put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

static uint32_t segment_sum(const uint8_t *p, size_t n) { return sum16(p, n, 0); }

static uint32_t tun_segment(const struct virtio_net_hdr *vh, const uint8_t *pkt, size_t len, uint8_t *out,
                            size_t out_cap, uint32_t *lens, uint32_t max_out) {
  if (vh->gso_type == VIRTIO_NET_HDR_GSO_NONE) {
    if (len > out_cap || max_out < 1) return 0;
    memcpy(out, pkt, len);
    if (vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
      // Complete a partial checksum: the field holds the pseudo-header sum already.
      size_t start = vh->csum_start, at = (size_t)vh->csum_start + vh->csum_offset;
      if (start >= len || at + 2 > len) return 0;
      uint16_t c = (uint16_t)~fold(segment_sum(out + start, len - start));
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
      put16(o + 10, (uint16_t)~fold(segment_sum(o, ip_hl)));
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

// ---------------------------------------------------------------------------------------
// Reader thread. One per descriptor. Batches are single malloc blocks laid out as
//   u32 length[count] | (UDP only) meta[count][UDP_META] | pad to 8 | packet data
// handed to JS as an external ArrayBuffer (no copy; freed by the GC). For UDP sockets
// with UDP_GRO, one received super-datagram is split here into its datagrams again.

typedef struct reader {
  int fd;
  int kind;
  int max_batch;
  int stopfd;  // eventfd: wakes the thread for stop
  pthread_t thread;
  napi_threadsafe_function tsfn;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int inflight;   // batches queued to JS and not yet processed
  uint32_t malformed;  // TSO packets from the kernel that could not be segmented
  int stopping;
  int joined;
} reader_t;

typedef struct batch {
  void *mem;
  size_t size;
  uint32_t count;
  uint32_t data_offset;
  int err;  // errno of a fatal read error (count == 0), else 0
} batch_t;

static size_t header_size(int kind, uint32_t count) {
  size_t h = (size_t)count * 4 + (kind == KIND_UDP ? (size_t)count * UDP_META : 0);
  return (h + 7) & ~(size_t)7;
}

// Most packets one batch can hold: a GRO datagram of up to 64 KiB may carry many.
#define MAX_BATCH_PACKETS (MAX_BATCH * 64)

static void free_external(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

static void call_js(napi_env env, napi_value js_cb, void *context, void *data) {
  reader_t *r = context;
  batch_t *b = data;
  pthread_mutex_lock(&r->mu);
  int stopping = r->stopping;
  pthread_mutex_unlock(&r->mu);
  if (env != NULL && !stopping) {
    napi_value ab = NULL, argv[3], undef;
    if (b->count > 0) {
      if (napi_create_external_arraybuffer(env, b->mem, b->size, free_external, NULL, &ab) != napi_ok) {
        // Runtimes that forbid external buffers: copy instead.
        void *copy;
        napi_create_arraybuffer(env, b->size, &copy, &ab);
        memcpy(copy, b->mem, b->size);
        free(b->mem);
      }
      b->mem = NULL;
      argv[0] = ab;
    } else {
      napi_get_null(env, &argv[0]);
    }
    napi_create_uint32(env, b->count, &argv[1]);
    napi_create_int32(env, b->count > 0 ? (int32_t)b->data_offset : b->err, &argv[2]);
    napi_get_undefined(env, &undef);
    napi_call_function(env, undef, js_cb, 3, argv, NULL);
    // A throwing callback must not take the process down through the addon: report it
    // as an uncaught exception the usual way.
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value exc;
      napi_get_and_clear_last_exception(env, &exc);
      napi_fatal_exception(env, exc);
    }
  }
  free(b->mem);
  free(b);
  pthread_mutex_lock(&r->mu);
  r->inflight--;
  pthread_cond_signal(&r->cv);
  pthread_mutex_unlock(&r->mu);
}

static int is_transient(int err) {
  return err == EAGAIN || err == EWOULDBLOCK || err == EINTR || err == ENOBUFS || err == ENOMEM ||
         err == ECONNREFUSED || err == EHOSTUNREACH || err == ENETUNREACH;
}

static void *reader_main(void *arg) {
  reader_t *r = arg;
  int vnet = r->kind == KIND_TUN_VNET;
  if (vnet) r->kind = KIND_TUN;
  size_t scratch_size = r->kind == KIND_TUN ? TUN_SCRATCH : (size_t)r->max_batch * MAX_PACKET;
  uint8_t *scratch = malloc(scratch_size);
  uint8_t *gso_buf = vnet ? malloc(MAX_PACKET) : NULL;
  struct mmsghdr *msgs = NULL;
  struct iovec *iov = NULL;
  struct sockaddr_storage *names = NULL;
  typedef union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } ctrl_t;
  ctrl_t *ctrl = NULL;
  if (r->kind == KIND_UDP) {
    msgs = calloc((size_t)r->max_batch, sizeof *msgs);
    iov = calloc((size_t)r->max_batch, sizeof *iov);
    names = calloc((size_t)r->max_batch, sizeof *names);
    ctrl = calloc((size_t)r->max_batch, sizeof *ctrl);
  }
  uint32_t *lens = malloc(MAX_BATCH_PACKETS * sizeof *lens);
  uint8_t *meta = r->kind == KIND_UDP ? malloc((size_t)MAX_BATCH_PACKETS * UDP_META) : NULL;
  int fatal = 0;
  if (!scratch || !lens || (vnet && !gso_buf) || (r->kind == KIND_UDP && (!msgs || !iov || !names || !ctrl || !meta))) fatal = ENOMEM;

  while (!fatal) {
    // Backpressure: at most MAX_INFLIGHT batches wait for the JS thread. While we wait
    // the kernel queue fills and drops, which is what a congested link should do.
    pthread_mutex_lock(&r->mu);
    while (r->inflight >= MAX_INFLIGHT && !r->stopping) pthread_cond_wait(&r->cv, &r->mu);
    int stopping = r->stopping;
    pthread_mutex_unlock(&r->mu);
    if (stopping) break;

    struct pollfd pfd[2] = {{.fd = r->fd, .events = POLLIN}, {.fd = r->stopfd, .events = POLLIN}};
    int pr = poll(pfd, 2, -1);
    if (pr < 0) {
      if (errno == EINTR) continue;
      fatal = errno;
      break;
    }
    if (pfd[1].revents) break;
    if (pfd[0].revents & POLLNVAL) {
      fatal = EBADF;
      break;
    }
    if ((pfd[0].revents & POLLERR) && r->kind == KIND_TUN) {
      fatal = EIO;
      break;
    }

    uint32_t count = 0;
    size_t used = 0;
    if (r->kind == KIND_TUN) {
      // Room for one more read: a TSO packet of up to 64 KiB grows by one header per piece.
      while ((int)count < r->max_batch && scratch_size - used >= 2 * MAX_PACKET) {
        ssize_t n;
        if (vnet) {
          struct virtio_net_hdr vh;
          struct iovec v[2] = {{&vh, sizeof vh}, {gso_buf, MAX_PACKET}};
          n = readv(r->fd, v, 2);
          if (n > 0) {
            size_t plen = n >= (ssize_t)sizeof vh ? (size_t)n - sizeof vh : 0;
            uint32_t got = tun_segment(&vh, gso_buf, plen, scratch + used, scratch_size - used, lens + count,
                                       MAX_BATCH_PACKETS - count);
            if (got == 0) {
              r->malformed++;
              continue;
            }
            for (uint32_t q = 0; q < got; q++) used += lens[count + q];
            count += got;
            continue;
          }
        } else {
          n = read(r->fd, scratch + used, MAX_PACKET);
        }
        if (n < 0) {
          if (errno == EINTR) continue;
          if (!is_transient(errno)) fatal = errno;
          break;
        }
        if (n == 0) break;
        lens[count++] = (uint32_t)n;
        used += (size_t)n;
      }
    } else {
      for (int i = 0; i < r->max_batch; i++) {
        iov[i].iov_base = scratch + (size_t)i * MAX_PACKET;
        iov[i].iov_len = MAX_PACKET;
        memset(&msgs[i], 0, sizeof msgs[i]);
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &names[i];
        msgs[i].msg_hdr.msg_namelen = sizeof names[i];
        msgs[i].msg_hdr.msg_control = ctrl[i].buf;
        msgs[i].msg_hdr.msg_controllen = sizeof ctrl[i].buf;
      }
      int n = recvmmsg(r->fd, msgs, (unsigned)r->max_batch, MSG_DONTWAIT, NULL);
      if (n < 0) {
        if (!is_transient(errno)) fatal = errno;
      } else {
        // Compact the datagrams to the front of scratch (memmove: regions only move
        // down) and record their sources; split GRO super-datagrams.
        for (int i = 0; i < n; i++) {
          uint32_t len = msgs[i].msg_len;
          uint32_t seg = len;
          for (struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c; c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
            if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
              int g;
              memcpy(&g, CMSG_DATA(c), sizeof g);
              if (g > 0 && (uint32_t)g < len) seg = (uint32_t)g;
            }
          }
          if (used != (size_t)i * MAX_PACKET) memmove(scratch + used, scratch + (size_t)i * MAX_PACKET, len);
          uint8_t m[UDP_META];
          memset(m, 0, UDP_META);
          m[1] = (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? 1 : 0;
          if (names[i].ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&names[i];
            m[0] = 4;
            memcpy(m + 2, &a->sin_port, 2);
            memcpy(m + 4, &a->sin_addr, 4);
          } else if (names[i].ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&names[i];
            m[0] = 6;
            memcpy(m + 2, &a->sin6_port, 2);
            memcpy(m + 4, &a->sin6_addr, 16);
          }
          for (uint32_t off = 0; off < len && count < MAX_BATCH_PACKETS; off += seg) {
            lens[count] = len - off < seg ? len - off : seg;
            memcpy(meta + (size_t)count * UDP_META, m, UDP_META);
            count++;
          }
          used += len;
        }
      }
    }

    if (count > 0 || fatal) {
      batch_t *b = calloc(1, sizeof *b);
      if (!b) {
        fatal = ENOMEM;
        break;
      }
      b->count = count;
      b->err = fatal;
      if (count > 0) {
        size_t hdr = header_size(r->kind, count);
        b->size = hdr + used;
        b->data_offset = (uint32_t)hdr;
        b->mem = malloc(b->size);
        if (!b->mem) {
          free(b);
          fatal = ENOMEM;
          break;
        }
        memcpy(b->mem, lens, (size_t)count * 4);
        if (r->kind == KIND_UDP) memcpy((uint8_t *)b->mem + (size_t)count * 4, meta, (size_t)count * UDP_META);
        memcpy((uint8_t *)b->mem + hdr, scratch, used);
      }
      pthread_mutex_lock(&r->mu);
      r->inflight++;
      pthread_mutex_unlock(&r->mu);
      if (napi_call_threadsafe_function(r->tsfn, b, napi_tsfn_nonblocking) != napi_ok) {
        free(b->mem);
        free(b);
        pthread_mutex_lock(&r->mu);
        r->inflight--;
        pthread_mutex_unlock(&r->mu);
        break;
      }
      if (fatal) {
        fatal = 0;  // already reported with this batch
        break;
      }
    }
  }
  if (fatal) {
    // Report an error that happened before any batch could carry it.
    batch_t *b = calloc(1, sizeof *b);
    if (b) {
      b->err = fatal;
      pthread_mutex_lock(&r->mu);
      r->inflight++;
      pthread_mutex_unlock(&r->mu);
      if (napi_call_threadsafe_function(r->tsfn, b, napi_tsfn_nonblocking) != napi_ok) free(b);
    }
  }
  free(scratch);
  free(gso_buf);
  free(msgs);
  free(iov);
  free(names);
  free(ctrl);
  free(lens);
  free(meta);
  napi_release_threadsafe_function(r->tsfn, napi_tsfn_release);
  return NULL;
}

static void reader_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  reader_t *r = data;
  if (!r->joined) {
    pthread_join(r->thread, NULL);
    r->joined = 1;
  }
  close(r->stopfd);
  pthread_mutex_destroy(&r->mu);
  pthread_cond_destroy(&r->cv);
  free(r);
}

// startReader(fd, kind, maxBatch, callback(arrayBuffer|null, count, dataOffsetOrErrno)) -> handle
static napi_value start_reader(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd, kind, max_batch;
  napi_valuetype t;
  if (argc < 4 || !get_i32(env, argv[0], &fd) || !get_i32(env, argv[1], &kind) || !get_i32(env, argv[2], &max_batch) ||
      napi_typeof(env, argv[3], &t) != napi_ok || t != napi_function) {
    return throw_type(env, "startReader(fd, kind, maxBatch, callback)");
  }
  if (kind != KIND_TUN && kind != KIND_UDP && kind != KIND_TUN_VNET) return throw_type(env, "startReader: bad kind");
  if (max_batch < 1) max_batch = 1;
  if (max_batch > MAX_BATCH) max_batch = MAX_BATCH;
  reader_t *r = calloc(1, sizeof *r);
  if (!r) return throw_errno(env, "calloc", ENOMEM);
  r->fd = fd;
  r->kind = kind;
  r->max_batch = max_batch;
  r->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (r->stopfd < 0) {
    int err = errno;
    free(r);
    return throw_errno(env, "eventfd", err);
  }
  pthread_mutex_init(&r->mu, NULL);
  pthread_cond_init(&r->cv, NULL);
  napi_value name;
  napi_create_string_utf8(env, "keyplane-reader", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[3], NULL, name, 0, 1, r, reader_finalize, r, call_js, &r->tsfn) !=
      napi_ok) {
    close(r->stopfd);
    free(r);
    return throw_errno(env, "napi_create_threadsafe_function", EINVAL);
  }
  int err = pthread_create(&r->thread, NULL, reader_main, r);
  if (err != 0) {
    napi_release_threadsafe_function(r->tsfn, napi_tsfn_abort);
    r->joined = 1;
    return throw_errno(env, "pthread_create", err);
  }
  napi_value handle;
  napi_create_external(env, r, NULL, NULL, &handle);
  return handle;
}

// stopReader(handle): stops and joins the thread; no callback runs after this returns.
// The descriptor stays open (the caller closes it).
static napi_value stop_reader(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *p = NULL;
  if (argc < 1 || napi_get_value_external(env, argv[0], &p) != napi_ok || !p) {
    return throw_type(env, "stopReader(handle)");
  }
  reader_t *r = p;
  pthread_mutex_lock(&r->mu);
  if (r->stopping) {
    pthread_mutex_unlock(&r->mu);
    return NULL;
  }
  r->stopping = 1;
  pthread_cond_signal(&r->cv);
  pthread_mutex_unlock(&r->mu);
  uint64_t one = 1;
  ssize_t w = write(r->stopfd, &one, sizeof one);
  (void)w;
  // The thread never blocks on the JS thread (non-blocking calls, unbounded queue), so
  // joining here cannot deadlock. Batches still queued are freed unseen by call_js.
  pthread_join(r->thread, NULL);
  r->joined = 1;
  return NULL;
}

// ---------------------------------------------------------------------------------------

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"openTun", NULL, open_tun, NULL, NULL, NULL, napi_default, NULL},
      {"closeFd", NULL, close_fd, NULL, NULL, NULL, napi_default, NULL},
      {"setBlocking", NULL, set_blocking, NULL, NULL, NULL, napi_default, NULL},
      {"sockaddr", NULL, make_sockaddr, NULL, NULL, NULL, napi_default, NULL},
      {"udpOpen", NULL, udp_open, NULL, NULL, NULL, napi_default, NULL},
      {"tunWrite", NULL, tun_write, NULL, NULL, NULL, napi_default, NULL},
      {"udpSend", NULL, udp_send, NULL, NULL, NULL, napi_default, NULL},
      {"startReader", NULL, start_reader, NULL, NULL, NULL, napi_default, NULL},
      {"stopReader", NULL, stop_reader, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
