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
// See docs/dependencies.md "TUN device". The pure packet functions (segmentation,
// coalescing, checksums) are in segment.c, where test/native/harness.c can run them under
// AddressSanitizer; docs/architecture.md "Native addon safety" lists the rules this file
// keeps so that no input from JavaScript, the kernel or the network can crash the process.

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

#include "segment.h"

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
  // Safety: each step is checked; if building the Error fails, a plain one is thrown
  // (using an uninitialised napi_value would crash).
  napi_value message = NULL, error = NULL, num = NULL, sc = NULL;
  if (napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message) != napi_ok ||
      napi_create_error(env, NULL, message, &error) != napi_ok || napi_create_int32(env, err, &num) != napi_ok ||
      napi_set_named_property(env, error, "errno", num) != napi_ok ||
      napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sc) != napi_ok ||
      napi_set_named_property(env, error, "syscall", sc) != napi_ok || napi_throw(env, error) != napi_ok) {
    napi_throw_error(env, NULL, msg);  // fails harmlessly if an exception is already pending
  }
  return NULL;
}

// Safety: every N-API call is checked. A failed call leaves its out-parameter unset, and
// passing that on crashes the process, so on failure the function returns to JavaScript
// at once: with the pending exception if the call left one (e.g. an accessor that threw),
// else with an Error naming the call.
static napi_value napi_failed(napi_env env, const char *call) {
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) != napi_ok || !pending) {
    char msg[200];
    snprintf(msg, sizeof msg, "keyplane native addon: %.150s failed", call);
    napi_throw_error(env, NULL, msg);
  }
  return NULL;
}
#define CHECK(env, call)                                 \
  do {                                                   \
    if ((call) != napi_ok) return napi_failed(env, #call); \
  } while (0)

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
  if (napi_get_value_string_utf8(env, v, buf, cap, &n) != napi_ok) return 0;
  if (len) *len = n;
  return 1;
}

// The pointer stays valid only while no JavaScript runs (JS could detach, transfer or
// shrink the buffer): take it after every call that may run JS (napi_get_element).
static int get_bytes(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) return 0;
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

// Sets obj[key] = an int32; 0 on failure.
static int set_int(napi_env env, napi_value obj, const char *key, int32_t value) {
  napi_value v;
  return napi_create_int32(env, value, &v) == napi_ok && napi_set_named_property(env, obj, key, v) == napi_ok;
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
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) return throw_type(env, "openTun(name, mtu, vnetHdr)");
  bool vnet = false;
  if (argc >= 3 && napi_get_value_bool(env, argv[2], &vnet) != napi_ok) vnet = false;
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

  // Safety: if the result cannot be built, the descriptor would be lost to JS: close it.
  napi_value result, vname;
  if (napi_create_object(env, &result) != napi_ok || !set_int(env, result, "fd", fd) ||
      napi_create_string_utf8(env, actual, NAPI_AUTO_LENGTH, &vname) != napi_ok ||
      napi_set_named_property(env, result, "name", vname) != napi_ok) {
    close(fd);
    return napi_failed(env, "openTun result");
  }
  return result;
}

// closeFd(fd)
static napi_value close_fd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
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
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
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
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char host[128];
  int32_t port;
  if (argc < 2 || !get_str(env, argv[0], host, sizeof host, NULL) || !get_i32(env, argv[1], &port)) {
    return throw_type(env, "sockaddr(host, port)");
  }
  struct sockaddr_storage ss;
  socklen_t len;
  if (port < 0 || port > 65535 || !parse_addr(host, port, &ss, &len)) return throw_errno(env, "inet_pton", EINVAL);
  napi_value buf;
  CHECK(env, napi_create_buffer_copy(env, len, &ss, NULL, &buf));
  return buf;
}

// udpOpen(host, port, bufferBytes, gro) -> { fd, port, gro }
// gro: ask for UDP_GRO (Linux 5.0+) so that bursts arrive as one super-datagram that the
// reader splits; `gro` in the result says whether the kernel accepted.
static napi_value udp_open(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
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
  if (argc >= 4 && napi_get_value_bool(env, argv[3], &want_gro) != napi_ok) want_gro = false;
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
  if (getsockname(fd, (struct sockaddr *)&bound, &blen) < 0) {  // else `bound` is garbage
    int err = errno;
    close(fd);
    return throw_errno(env, "getsockname", err);
  }
  int bport = ntohs(bound.ss_family == AF_INET ? ((struct sockaddr_in *)&bound)->sin_port
                                               : ((struct sockaddr_in6 *)&bound)->sin6_port);
  // Safety: as in openTun, a result that cannot be built must not leak the descriptor.
  napi_value result, vgro;
  if (napi_create_object(env, &result) != napi_ok || !set_int(env, result, "fd", fd) ||
      !set_int(env, result, "port", bport) || napi_get_boolean(env, gro, &vgro) != napi_ok ||
      napi_set_named_property(env, result, "gro", vgro) != napi_ok) {
    close(fd);
    return napi_failed(env, "udpOpen result");
  }
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
//           Only segments whose own checksums verify are merged (segment.c classify_seg).

static napi_value tun_write(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, mode = 0;
  bool is_array = false;
  if (argc < 2 || !get_i32(env, argv[0], &fd) || napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array) {
    return throw_type(env, "tunWrite(fd, packets[], mode)");
  }
  if (argc >= 3 && !get_i32(env, argv[2], &mode)) mode = 0;
  uint32_t n;
  CHECK(env, napi_get_array_length(env, argv[1], &n));
  uint32_t ok = 0;
  enum { CHUNK = 256 };
  napi_value els[CHUNK];
  seg_t segs[CHUNK];
  for (uint32_t base = 0; base < n; base += CHUNK) {
    uint32_t k = n - base < CHUNK ? n - base : CHUNK;
    // Safety: two passes. napi_get_element can run JavaScript (an accessor on the array),
    // and that JavaScript could detach, transfer or shrink the buffer of an element fetched
    // before it (use after free). So all elements of the chunk are fetched first (a
    // throwing accessor ends the call with its exception), then their data pointers are
    // taken; from there to the last write of the chunk no JavaScript runs.
    for (uint32_t i = 0; i < k; i++) CHECK(env, napi_get_element(env, argv[1], base + i, &els[i]));
    for (uint32_t i = 0; i < k; i++) {
      if (!get_bytes(env, els[i], &segs[i].p, &segs[i].len)) return throw_type(env, "packets must be Uint8Arrays");
      if (mode == 2) {
        classify_seg(&segs[i]);
      } else {
        segs[i].tcp_hl = 0;
        segs[i].payload = 0;
      }
    }
    for (uint32_t i = 0; i < k;) {
      ssize_t w;
      if (mode == 0) {
        do {
          w = write(fd, segs[i].p, segs[i].len);
        } while (w < 0 && errno == EINTR);
        if (w == (ssize_t)segs[i].len) ok++;
        i++;
        continue;
      }
      struct virtio_net_hdr vh;
      size_t total;
      uint32_t j = coalesce_run(segs, i, k, &total);
      if (j - i == 1) {
        memset(&vh, 0, sizeof vh);
        struct iovec v[2] = {{&vh, sizeof vh}, {segs[i].p, segs[i].len}};
        do {
          w = writev(fd, v, 2);
        } while (w < 0 && errno == EINTR);
        if (w == (ssize_t)(sizeof vh + segs[i].len)) ok++;
        i = j;
        continue;
      }
      uint8_t hdr[COALESCE_HDR_MAX];
      size_t hl = coalesce_header(segs, i, j, total, hdr, &vh);
      struct iovec v[2 + GRO_MAX_SEGS];  // coalesce_run: j - i <= GRO_MAX_SEGS
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
  CHECK(env, napi_create_uint32(env, ok, &result));
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
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  bool a1 = false, a2 = false, want_gso = false;
  if (argc < 3 || !get_i32(env, argv[0], &fd) || napi_is_array(env, argv[1], &a1) != napi_ok || !a1 ||
      napi_is_array(env, argv[2], &a2) != napi_ok || !a2) {
    return throw_type(env, "udpSend(fd, packets[], addrs[], gso)");
  }
  if (argc >= 4 && napi_get_value_bool(env, argv[3], &want_gso) != napi_ok) want_gso = false;
  uint32_t n, m;
  CHECK(env, napi_get_array_length(env, argv[1], &n));
  CHECK(env, napi_get_array_length(env, argv[2], &m));
  if (m != n) return throw_type(env, "udpSend: packets and addrs differ in length");

  enum { CHUNK = 256 };
  napi_value pel[CHUNK], ael[CHUNK];
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
    // Safety: two passes, as in tunWrite (accessors run JavaScript that could free the
    // buffers of elements already fetched): fetch every element, then take the pointers.
    for (uint32_t i = 0; i < k; i++) {
      CHECK(env, napi_get_element(env, argv[1], base + i, &pel[i]));
      CHECK(env, napi_get_element(env, argv[2], base + i, &ael[i]));
    }
    for (uint32_t i = 0; i < k; i++) {
      uint8_t *data;
      size_t len;
      if (!get_bytes(env, pel[i], &data, &len) || !get_bytes(env, ael[i], &addr_of[i], &alen_of[i])) {
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
      // seg > 0: a UDP_SEGMENT of 0 means "no segmentation" to the kernel, which would
      // send a group of empty datagrams as one and count them all as sent.
      if (want_gso && !gso_disabled && seg > 0) {
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
  CHECK(env, napi_create_uint32(env, sent, &result));
  return result;
}

// TSO from the kernel: the reader thread cuts large TCP segments with tun_segment()
// (segment.c) into the packets a NIC would have sent.

// ---------------------------------------------------------------------------------------
// Reader thread. One per descriptor. Batches are single malloc blocks laid out as
//   u32 length[count] | (UDP only) meta[count][UDP_META] | pad to 8 | packet data
// handed to JS as an external ArrayBuffer (no copy; freed by the GC). For UDP sockets
// with UDP_GRO, one received super-datagram is split here into its datagrams again.

// Lifetime (safety): a reader_t has two owners, both on the JS thread: the thread-safe
// function (until its finalizer, reader_finalize) and the JS handle object (until the GC
// collects it). `refs` counts them; the last one frees the struct. Before, the tsfn
// finalizer freed it alone, so when the thread ended by itself (a fatal read error, e.g.
// the TUN interface deleted under us) the later stopReader(handle) from close() used freed
// memory and wrote to a closed (possibly reused) eventfd descriptor.
typedef struct reader {
  int fd;
  int kind;
  int max_batch;
  int stopfd;  // eventfd: wakes the thread for stop; -1 once closed (after the join)
  pthread_t thread;
  napi_threadsafe_function tsfn;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int inflight;   // batches queued to JS and not yet processed
  uint32_t malformed;  // TSO packets from the kernel that could not be segmented
  int stopping;
  int joined;  // JS thread only
  int refs;    // JS thread only: tsfn + handle
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

// Calls the JS callback with one batch (on the JS thread). b->mem is handed over to the
// ArrayBuffer (set to NULL) when that succeeds. Safety: every N-API call is checked; a
// batch that cannot be delivered is dropped rather than passing an unset napi_value on.
static void deliver(napi_env env, napi_value js_cb, batch_t *b) {
  napi_value argv[3], undef;
  if (b->count > 0) {
    napi_value ab;
    if (napi_create_external_arraybuffer(env, b->mem, b->size, free_external, NULL, &ab) == napi_ok) {
      b->mem = NULL;  // the ArrayBuffer owns it now
    } else {
      // Runtimes that forbid external buffers: copy instead (the copy must exist first).
      void *copy = NULL;
      if (napi_create_arraybuffer(env, b->size, &copy, &ab) != napi_ok || copy == NULL) return;
      memcpy(copy, b->mem, b->size);
    }
    argv[0] = ab;
  } else if (napi_get_null(env, &argv[0]) != napi_ok) {
    return;
  }
  if (napi_create_uint32(env, b->count, &argv[1]) != napi_ok ||
      napi_create_int32(env, b->count > 0 ? (int32_t)b->data_offset : b->err, &argv[2]) != napi_ok ||
      napi_get_undefined(env, &undef) != napi_ok) {
    return;
  }
  napi_call_function(env, undef, js_cb, 3, argv, NULL);
  // A throwing callback must not take the process down through the addon: report it as
  // an uncaught exception the usual way.
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
    napi_value exc;
    if (napi_get_and_clear_last_exception(env, &exc) == napi_ok) napi_fatal_exception(env, exc);
  }
}

static void call_js(napi_env env, napi_value js_cb, void *context, void *data) {
  batch_t *b = data;
  if (env == NULL) {
    // Safety: Node calls with env == NULL only while tearing the tsfn down (environment
    // exit, e.g. a Worker that ends), for items still queued, and *after* the finalizer
    // (reader_finalize) ran: the reader may already be freed and its thread is joined.
    // Free the batch, touch nothing else.
    free(b->mem);
    free(b);
    return;
  }
  reader_t *r = context;
  pthread_mutex_lock(&r->mu);
  int stopping = r->stopping;
  pthread_mutex_unlock(&r->mu);
  if (!stopping) deliver(env, js_cb, b);
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
          // Zeroed: a read shorter than the header leaves the rest unset (plen is 0 then).
          struct virtio_net_hdr vh;
          memset(&vh, 0, sizeof vh);
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
            // The segment size is read only from a cmsg long enough to hold it.
            if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
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
          uint32_t got = gro_split(len, seg, lens + count, MAX_BATCH_PACKETS - count);
          for (uint32_t q = 0; q < got; q++) memcpy(meta + (size_t)(count + q) * UDP_META, m, UDP_META);
          count += got;
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
      // A batch with packets cannot carry the errno (JS reads the third argument as the
      // data offset when count > 0): report the error below in a batch of its own.
      // Before, it was dropped here and the reader ended without telling JavaScript.
      if (fatal) break;
    }
  }
  if (fatal) {
    // Report a fatal error in a batch of its own (count 0, the errno as third argument).
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

// Drops one owner (JS thread); the last frees the reader.
static void reader_unref(reader_t *r) {
  if (--r->refs > 0) return;
  pthread_mutex_destroy(&r->mu);
  pthread_cond_destroy(&r->cv);
  free(r);
}

// Stops the thread and joins it (JS thread; idempotent). The eventfd is closed right after
// the join, so close() of a device releases every descriptor it opened at once.
static void reader_stop_join(reader_t *r) {
  if (r->joined) return;
  pthread_mutex_lock(&r->mu);
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
  close(r->stopfd);
  r->stopfd = -1;
}

// The tsfn's finalizer: runs once the thread has released the tsfn and the queue is empty,
// or when the environment is torn down (a Worker ending, process teardown) while the
// thread still runs. Safety: in that second case the thread is blocked in poll(2), so it
// must be told to stop before the join; before, the join waited forever (worker.terminate()
// never finished) and a free without the join would have left the thread on freed memory.
static void reader_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  reader_t *r = data;
  reader_stop_join(r);
  reader_unref(r);
}

// Finalizer of the JS handle object.
static void reader_handle_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  reader_unref(data);
}

// Marks handles made by startReader, so stopReader never takes another object (or another
// addon's pointer) for a reader_t.
static const napi_type_tag READER_TAG = {0x6b6579706c616e65ULL, 0x7265616465723031ULL};

// startReader(fd, kind, maxBatch, callback(arrayBuffer|null, count, dataOffsetOrErrno)) -> handle
static napi_value start_reader(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, kind, max_batch;
  napi_valuetype t;
  if (argc < 4 || !get_i32(env, argv[0], &fd) || !get_i32(env, argv[1], &kind) || !get_i32(env, argv[2], &max_batch) ||
      napi_typeof(env, argv[3], &t) != napi_ok || t != napi_function) {
    return throw_type(env, "startReader(fd, kind, maxBatch, callback)");
  }
  if (kind != KIND_TUN && kind != KIND_UDP && kind != KIND_TUN_VNET) return throw_type(env, "startReader: bad kind");
  if (max_batch < 1) max_batch = 1;
  if (max_batch > MAX_BATCH) max_batch = MAX_BATCH;
  // The handle object first: creating and tagging it can fail, and nothing needs undoing
  // then.
  napi_value handle, name;
  CHECK(env, napi_create_object(env, &handle));
  CHECK(env, napi_type_tag_object(env, handle, &READER_TAG));
  CHECK(env, napi_create_string_utf8(env, "keyplane-reader", NAPI_AUTO_LENGTH, &name));
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
  if (napi_create_threadsafe_function(env, argv[3], NULL, name, 0, 1, r, reader_finalize, r, call_js, &r->tsfn) !=
      napi_ok) {
    close(r->stopfd);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
    return napi_failed(env, "napi_create_threadsafe_function");
  }
  r->refs = 1;  // the tsfn; reader_finalize drops it
  if (napi_wrap(env, handle, r, reader_handle_finalize, NULL, NULL) != napi_ok) {
    // Nothing started yet: abort the tsfn; its finalizer closes the eventfd and frees r.
    r->joined = 1;
    close(r->stopfd);
    r->stopfd = -1;
    napi_release_threadsafe_function(r->tsfn, napi_tsfn_abort);
    return napi_failed(env, "napi_wrap");
  }
  r->refs = 2;  // and the handle; reader_handle_finalize drops it
  int err = pthread_create(&r->thread, NULL, reader_main, r);
  if (err != 0) {
    r->joined = 1;
    close(r->stopfd);
    r->stopfd = -1;
    napi_release_threadsafe_function(r->tsfn, napi_tsfn_abort);
    return throw_errno(env, "pthread_create", err);
  }
  return handle;
}

// stopReader(handle): stops and joins the thread; no callback runs after this returns.
// The descriptor stays open (the caller closes it). Safe to call more than once, and after
// the reader ended by itself on a fatal error.
static napi_value stop_reader(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  bool tagged = false;
  void *p = NULL;
  if (argc < 1 || napi_check_object_type_tag(env, argv[0], &READER_TAG, &tagged) != napi_ok || !tagged ||
      napi_unwrap(env, argv[0], &p) != napi_ok || !p) {
    return throw_type(env, "stopReader(handle)");
  }
  reader_stop_join(p);
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
