#!/usr/bin/env bash
# Regenerates test/vectors/ike-strongswan-capture.json: real IKEv2 messages made by two
# strongSwan instances (charon-systemd, kernel-libipsec) in two network namespaces joined
# by a veth pair, captured with tcpdump, dissected (and decrypted) by tshark.
#
# Run as root from anywhere: bash scripts/capture-ike-vectors.sh
# Needs: ip, tcpdump, tshark, openssl, charon-systemd, swanctl, a built tree (npx tsc -p .).
#
# What happens (A = 192.0.2.1 initiates, B = 192.0.2.2 responds; encap = yes, so both move
# to UDP/4500 after IKE_SA_INIT and IKE messages there carry the 4-byte non-ESP marker):
#   conn "psk":  PSK auth; A proposes aes128-sha256-ecp256 then aes128-sha256-x25519 and
#                sends an ECP-256 KE, B accepts only x25519 -> INVALID_KE_PAYLOAD, retry;
#                A asks for a virtual IP (CP CFG_REQUEST), B assigns one from a pool (CFG_REPLY);
#                then a CHILD_SA rekey with PFS, an IKE SA rekey, liveness checks (DPD,
#                empty INFORMATIONAL), a CHILD_SA delete and an IKE SA delete.
#   conn "cert": RSA-2048 certificates from a throw-away CA, RFC 7427 signature auth,
#                CERTREQ in IKE_SA_INIT, IKE_AUTH split into RFC 7383 fragments (SKF).
# charon logs at "ike 4", which prints the derived SK_* keys of these throw-away SAs; the
# node step keeps them so tests can decrypt the SK payloads (never do this with real keys).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
[ -n "${NO_NODE:-}" ] || [ -f dist/test/wire/ike-capture.js ] || { echo "build first: npx tsc -p ." >&2; exit 1; }

WORK=$(mktemp -d /tmp/kp-ike-capture.XXXXXX)
PSK=a-long-random-test-secret-for-capture
NSA=kpikeA$$
NSB=kpikeB$$
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.5
  ip netns del "$NSA" 2>/dev/null || true
  ip netns del "$NSB" 2>/dev/null || true
  [ "${KEEP_WORK:-}" = 1 ] && echo "work dir kept: $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT

ip netns add "$NSA"
ip netns add "$NSB"
ip -n "$NSA" link add kiA type veth peer name kiB netns "$NSB"
ip -n "$NSA" addr add 192.0.2.1/24 dev kiA
ip -n "$NSB" addr add 192.0.2.2/24 dev kiB
for ns in "$NSA" "$NSB"; do ip -n "$ns" link set lo up; done
ip -n "$NSA" addr add 10.1.0.1/24 dev lo
ip -n "$NSB" addr add 10.2.0.1/24 dev lo
ip -n "$NSA" link set kiA up
ip -n "$NSB" link set kiB up

# A throw-away CA and two RSA-2048 end-entity certificates.
PKI=$WORK/pki
mkdir -p "$PKI"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$PKI/ca.key" -out "$PKI/ca.crt" -days 3650 \
  -subj "/O=keyplane test/CN=keyplane test CA" -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
for side in a b; do
  openssl req -newkey rsa:2048 -nodes -keyout "$PKI/$side.key" -out "$PKI/$side.csr" \
    -subj "/O=keyplane test/CN=$side.ike.test" 2>/dev/null
  printf "subjectAltName=DNS:%s.ike.test\nextendedKeyUsage=serverAuth\n" "$side" > "$PKI/$side.ext"
  openssl x509 -req -in "$PKI/$side.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -out "$PKI/$side.crt" -days 3650 -extfile "$PKI/$side.ext" 2>/dev/null
done

# conf DIR LOCAL REMOTE SIDE PEER ROLE LOCAL_NET REMOTE_NET
conf() {
  local dir=$1 local=$2 remote=$3 side=$4 peer=$5 role=$6 lnet=$7 rnet=$8
  mkdir -p "$dir/run" "$dir/swanctl"/{x509,x509ca,x509ocsp,x509aa,x509ac,x509crl,pubkey,private,rsa,ecdsa,bliss,pkcs8,pkcs12}
  cat > "$dir/strongswan.conf" <<EOF
charon {
  load = random nonce openssl aes sha1 sha2 hmac gcm pem pkcs1 pkcs8 x509 revocation constraints pubkey curve25519 kdf attr kernel-libipsec kernel-netlink socket-default vici updown
  port = 500
  port_nat_t = 4500
  piddir = $dir/run
  retransmit_tries = 3
  plugins {
    vici {
      socket = unix://$dir/run/charon.vici
    }
    kernel-libipsec {
      allow_peer_ts = yes
    }
  }
  filelog {
    stderr {
      default = 1
      ike = 4
      enc = 1
      ike_name = yes
    }
  }
}
swanctl {
  socket = unix://$dir/run/charon.vici
}
EOF
  local psk_props cert_props vip pools child_local child_remote
  if [ "$role" = initiator ]; then
    psk_props="aes128-sha256-ecp256, aes128-sha256-x25519"
    vip="    vips = 0.0.0.0"
    pools=""
    child_local="dynamic"
    child_remote="10.2.0.0/24"
  else
    psk_props="aes128-sha256-x25519"
    vip=""
    pools="    pools = p1"
    child_local="10.2.0.0/24"
    child_remote="dynamic"
  fi
  cert_props="aes128-sha256-x25519"
  # swanctl --load-all reads credentials from the folders next to swanctl.conf.
  cp "$PKI/$side.crt" "$dir/swanctl/x509/"
  cp "$PKI/ca.crt" "$dir/swanctl/x509ca/"
  cp "$PKI/$side.key" "$dir/swanctl/private/"
  cat > "$dir/swanctl/swanctl.conf" <<EOF
connections {
  psk {
    version = 2
    local_addrs = $local
    remote_addrs = $remote
    encap = yes
    dpd_delay = 2s
    proposals = $psk_props
$vip
$pools
    local {
      auth = psk
      id = $local
    }
    remote {
      auth = psk
      id = $remote
    }
    children {
      net-psk {
        local_ts = $child_local
        remote_ts = $child_remote
        esp_proposals = aes128gcm16-x25519
      }
    }
  }
  cert {
    version = 2
    local_addrs = $local
    remote_addrs = $remote
    encap = yes
    fragmentation = yes
    proposals = $cert_props
    local {
      auth = pubkey
      certs = $side.crt
      id = $side.ike.test
    }
    remote {
      auth = pubkey
      cacerts = ca.crt
      id = $peer.ike.test
    }
    children {
      net-cert {
        local_ts = $lnet
        remote_ts = $rnet
        esp_proposals = aes128gcm16
      }
    }
  }
}
pools {
  p1 {
    addrs = 10.9.0.0/28
    dns = 10.9.0.53
  }
}
secrets {
  ike-psk {
    id-1 = 192.0.2.1
    id-2 = 192.0.2.2
    secret = "$PSK"
  }
}
EOF
}
conf "$WORK/a" 192.0.2.1 192.0.2.2 a b initiator 10.1.0.0/24 10.2.0.0/24
conf "$WORK/b" 192.0.2.2 192.0.2.1 b a responder 10.2.0.0/24 10.1.0.0/24

ip netns exec "$NSA" tcpdump -i kiA -n -U -w "$WORK/ike.pcap" udp port 500 or udp port 4500 2> "$WORK/tcpdump.log" &
PIDS+=($!)
for _ in $(seq 50); do grep -q "listening on" "$WORK/tcpdump.log" && break; sleep 0.1; done

start_charon() { # dir ns
  STRONGSWAN_CONF=$1/strongswan.conf setsid ip netns exec "$2" /usr/sbin/charon-systemd > "$1/charon.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do [ -S "$1/run/charon.vici" ] && break; sleep 0.1; done
  STRONGSWAN_CONF=$1/strongswan.conf swanctl --load-all --file "$1/swanctl/swanctl.conf" > "$1/load.log"
}
start_charon "$WORK/b" "$NSB"
start_charon "$WORK/a" "$NSA"
A() { STRONGSWAN_CONF=$WORK/a/strongswan.conf swanctl "$@"; }

A --initiate --child net-psk --timeout 20 > "$WORK/initiate-psk.log"
sleep 0.5
A --rekey --child net-psk > /dev/null
sleep 1
A --rekey --ike psk > /dev/null
sleep 5 # dpd_delay 2s: liveness checks on the (rekeyed) IKE SA
A --list-sas > "$WORK/sas.log"
A --terminate --child net-psk --timeout 10 > /dev/null
sleep 0.5
A --terminate --ike psk --timeout 10 > /dev/null
sleep 0.5
A --initiate --child net-cert --timeout 20 > "$WORK/initiate-cert.log"
sleep 0.5
A --terminate --ike cert --timeout 10 > /dev/null
sleep 1

[ -z "${NO_NODE:-}" ] || { KEEP_WORK=1; exit 0; }
VERSION=$(STRONGSWAN_CONF=$WORK/a/strongswan.conf swanctl --version 2>/dev/null | head -1 || true)
IKE_CAPTURE_PSK=$PSK node "$ROOT/dist/test/wire/ike-capture.js" write "$WORK/ike.pcap" "$WORK/a/charon.log" "$WORK/b/charon.log" \
  "charon-systemd $(dpkg-query -W -f='${Version}' charon-systemd) ($VERSION)"
