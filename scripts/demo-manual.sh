#!/usr/bin/env bash
# keyplane demo: two "sites" in two network namespaces, joined by a veth pair that plays
# the Internet, with keyplane's userspace ESP data plane and manually keyed SAs between
# them. Pings and a TCP transfer cross the tunnel; tshark proves that the link between the
# sites carries nothing but ESP in UDP/4500. Run as root on Debian 12:
#
#   bash scripts/demo-manual.sh              # install what is needed, run the demo, clean up
#   bash scripts/demo-manual.sh --keep       # leave both sites running to look around
#   bash scripts/demo-manual.sh --cleanup    # remove what a --keep run left
#
# Other options: --skip-install (dependencies and build are there already), --dir DIR
# (work folder, default /tmp/keyplane-demo; one you name is kept afterwards, with the
# configs, keys, logs and capture), --size-mb N (TCP transfer size, default 8).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

NS_A=kpdemoA NS_B=kpdemoB
VETH_A=kpdA VETH_B=kpdB
OUTER_A=192.0.2.1 OUTER_B=192.0.2.2   # RFC 5737 documentation addresses: the "Internet"
INNER_A=10.1.0.1 INNER_B=10.2.0.1     # the protected sites
NET_A=10.1.0.0/24 NET_B=10.2.0.0/24
TCP_PORT=5001

DIR=/tmp/keyplane-demo SIZE_MB=8
DEMO_NAMESPACES="$NS_A $NS_B"
# shellcheck source=scripts/demo-lib.sh
. "$ROOT/scripts/demo-lib.sh"
demo_parse_args "$@"
demo_cleanup_only_or_require_root

echo "${bold}keyplane demo: an IPsec tunnel between two sites, keyed by hand${off}"
say "Site A ($NET_A) and site B ($NET_B) live in network namespaces $NS_A and $NS_B."
say "Between them is a veth pair ($OUTER_A <-> $OUTER_B) that stands for the Internet."

demo_install "scripts/install-deps.sh installs tshark, iproute2 and the npm packages, then builds keyplane."
demo_prepare_dir

step "Create the two sites and the link between them"
run ip netns add "$NS_A"
run ip netns add "$NS_B"
run ip link add "$VETH_A" type veth peer name "$VETH_B"
run ip link set "$VETH_A" netns "$NS_A"
run ip link set "$VETH_B" netns "$NS_B"
for ns in "$NS_A" "$NS_B"; do
  # No IPv6 on the link: router solicitations would only clutter the capture.
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n "$ns" link set lo up
done
run ip -n "$NS_A" addr add "$OUTER_A/24" dev "$VETH_A"
run ip -n "$NS_B" addr add "$OUTER_B/24" dev "$VETH_B"
run ip -n "$NS_A" link set "$VETH_A" up
run ip -n "$NS_B" link set "$VETH_B" up
# keyplane sends ESP in batches with UDP GSO; a veth would hand such a batch to tshark as
# one big frame. Segmenting before the veth makes the capture show each packet, as on a
# physical wire.
ip -n "$NS_A" link set "$VETH_A" gso_max_segs 1
ip -n "$NS_B" link set "$VETH_B" gso_max_segs 1
say "Each site's protected network is an address on its loopback:"
run ip -n "$NS_A" addr add "$INNER_A/24" dev lo
run ip -n "$NS_B" addr add "$INNER_B/24" dev lo

step "Generate keys with 'keyplane keygen'"
say "One SA per direction, each with its own key (20 bytes = AES-128 key + 4-byte GCM salt)."
say "Keys go to files with mode 0600; keyplane refuses key files others can read."
run keyplane keygen --alg aes128gcm16 --out "$DIR/a-to-b.key"
run keyplane keygen --alg aes128gcm16 --out "$DIR/b-to-a.key"
ls -l "$DIR"/*.key | sed 's/^/   /'

step "Write the two manual-keying config files"
say "Like 'ip xfrm state/policy', but for keyplane (reference: docs/configuration.md)."
write_config() { # file tun local peer localnet remotenet out-spi out-key in-spi in-key sock
  ( umask 077
    cat > "$1" <<EOF
# keyplane manual keying: site $(basename "$1" .yaml)
dataplane:
  tunName: $2
  localAddress: $3          # outer address; ESP in UDP leaves from port 4500
  controlSocket: ${11}
policies:
  - name: site-to-site
    action: protect
    local: $5
    remote: $6
    mode: tunnel
    remoteTunnel: $4
sas:
  - policy: site-to-site
    direction: out
    spi: $7
    encryption: { algorithm: aes128gcm16, keyFile: $8 }
  - policy: site-to-site
    direction: in
    spi: $9
    encryption: { algorithm: aes128gcm16, keyFile: ${10} }
EOF
  )
}
write_config "$DIR/site-a.yaml" kpa0 "$OUTER_A" "$OUTER_B" "$NET_A" "$NET_B" 0x0000a001 a-to-b.key 0x0000b001 b-to-a.key "$DIR/a.sock"
write_config "$DIR/site-b.yaml" kpb0 "$OUTER_B" "$OUTER_A" "$NET_B" "$NET_A" 0x0000b001 b-to-a.key 0x0000a001 a-to-b.key "$DIR/b.sock"
sed 's/^/   | /' "$DIR/site-a.yaml"
say "Site B's file mirrors it: SPIs and keys swap direction."
run keyplane config check "$DIR/site-a.yaml"
run keyplane config check "$DIR/site-b.yaml"

step "Start 'keyplane dataplane run' in each site"
say "Each creates a TUN device, routes the other site's network into it, binds UDP/4500"
say "and installs the policy and the two SAs. Logs: $DIR/site-a.log, $DIR/site-b.log"
start_site() { # ns config log pidfile sock
  echo "${dim}   \$ ip netns exec $1 keyplane dataplane run --config $2 &${off}"
  ip netns exec "$1" node "$ROOT/dist/src/cli/main.js" dataplane run --config "$2" >"$3" 2>&1 &
  echo $! >"$4"
  for _ in $(seq 100); do
    keyplane dataplane status --socket "$5" >/dev/null 2>&1 && return 0
    kill -0 "$(cat "$4")" 2>/dev/null || { sed 's/^/   | /' "$3"; die "keyplane dataplane run stopped in $1"; }
    sleep 0.1
  done
  sed 's/^/   | /' "$3"
  die "keyplane dataplane run in $1 did not become ready"
}
start_site "$NS_A" "$DIR/site-a.yaml" "$DIR/site-a.log" "$DIR/site-a.pid" "$DIR/a.sock"
start_site "$NS_B" "$DIR/site-b.yaml" "$DIR/site-b.log" "$DIR/site-b.pid" "$DIR/b.sock"
sed 's/^/   | /' "$DIR/site-a.log"
run ip -n "$NS_A" route show dev kpa0

step "Capture the link between the sites with tshark"
ip netns exec "$NS_A" tshark -i "$VETH_A" -w "$DIR/link.pcap" -q >"$DIR/tshark.log" 2>&1 &
echo $! >"$DIR/tshark.pid"
for _ in $(seq 100); do grep -q 'Capturing on' "$DIR/tshark.log" 2>/dev/null && break; sleep 0.1; done
grep -q 'Capturing on' "$DIR/tshark.log" || die "tshark did not start: $(cat "$DIR/tshark.log")"
say "tshark is capturing on $VETH_A (site A's side of the link) into $DIR/link.pcap"

step "Ping site B from site A through the tunnel"
run ip netns exec "$NS_A" ping -c 4 -i 0.2 -W 2 -I "$INNER_A" "$INNER_B" | sed 's/^/   /'
[ "${PIPESTATUS[0]}" = 0 ] || die "ping across the tunnel failed"

step "Send ${SIZE_MB} MB over TCP from site A to site B and compare SHA-256"
head -c "$((SIZE_MB * 1024 * 1024))" /dev/urandom >"$DIR/payload.bin"
SENT=$(sha256sum "$DIR/payload.bin" | cut -d' ' -f1)
# A tiny TCP sink in site B and a sender in site A, both plain Node.js sockets.
ip netns exec "$NS_B" node -e '
  const [host, port, file] = process.argv.slice(1);
  const out = require("fs").createWriteStream(file);
  const srv = require("net").createServer((s) => { s.pipe(out); s.on("end", () => srv.close()); });
  srv.listen(Number(port), host, () => console.log("listening"));
' "$INNER_B" "$TCP_PORT" "$DIR/received.bin" >"$DIR/sink.log" 2>&1 &
echo $! >"$DIR/sink.pid"
for _ in $(seq 50); do grep -q listening "$DIR/sink.log" && break; sleep 0.1; done
START=$(date +%s.%N)
say "\$ ip netns exec $NS_A node -e '<send payload.bin to $INNER_B:$TCP_PORT from $INNER_A>'"
ip netns exec "$NS_A" node -e '
  const [host, port, local, file] = process.argv.slice(1);
  const s = require("net").connect({ host, port: Number(port), localAddress: local }, () =>
    require("fs").createReadStream(file).pipe(s));
  s.on("error", (e) => { console.error(e.message); process.exit(1); });
' "$INNER_B" "$TCP_PORT" "$INNER_A" "$DIR/payload.bin"
for _ in $(seq 100); do kill -0 "$(cat "$DIR/sink.pid")" 2>/dev/null || break; sleep 0.1; done
END=$(date +%s.%N)
RECEIVED=$(sha256sum "$DIR/received.bin" | cut -d' ' -f1)
say "sent     $SENT"
say "received $RECEIVED"
[ "$SENT" = "$RECEIVED" ] || die "SHA-256 mismatch: the data did not arrive intact"
say "${green}SHA-256 match: $SIZE_MB MB arrived intact ($(awk -v s="$START" -v e="$END" -v m="$SIZE_MB" 'BEGIN { printf "%.0f Mbit/s", m * 8 * 1.048576 / (e - s) }'))${off}"

step "Show with tshark what crossed the link"
kill -INT "$(cat "$DIR/tshark.pid")"
for _ in $(seq 50); do kill -0 "$(cat "$DIR/tshark.pid")" 2>/dev/null || break; sleep 0.1; done
rm -f "$DIR/tshark.pid"
say "The first packets as tshark dissects them:"
tshark -r "$DIR/link.pcap" -c 6 2>/dev/null | sed 's/^/   | /'
TOTAL_IP=$(tshark -r "$DIR/link.pcap" -Y 'ip' 2>/dev/null | wc -l)
ESP=$(tshark -r "$DIR/link.pcap" -Y 'udp.port == 4500 && esp' 2>/dev/null | wc -l)
KEEPALIVE=$(tshark -r "$DIR/link.pcap" -Y 'udp.port == 4500 && udp.length == 9' 2>/dev/null | wc -l)
OTHER=$(tshark -r "$DIR/link.pcap" -Y 'ip && !(udp.port == 4500 && (esp || udp.length == 9))' 2>/dev/null | wc -l)
CLEAR=$(tshark -r "$DIR/link.pcap" -Y "tcp || icmp || ip.addr == $NET_A || ip.addr == $NET_B" 2>/dev/null | wc -l)
say "IP packets on the link:   $TOTAL_IP"
say "  ESP in UDP/4500:        $ESP"
say "  NAT keepalives:         $KEEPALIVE"
say "  anything else:          $OTHER"
say "  visible TCP/ICMP or inner addresses: $CLEAR"
[ "$ESP" -gt 0 ] && [ "$OTHER" = 0 ] && [ "$CLEAR" = 0 ] || die "the link carried something other than ESP in UDP"
say "${green}only ESP in UDP/4500 on the link: the pings and the TCP stream were all encrypted${off}"

step "Ask the running data planes for their state: 'keyplane dataplane status'"
for site in a b; do
  echo "${dim}   \$ keyplane dataplane status --socket $DIR/$site.sock${off}"
  keyplane dataplane status --socket "$DIR/$site.sock" | sed 's/^/   | /'
done
say "(add --json for machine-readable output)"
# keyplane's own counters against what tshark saw on the wire.
A_OUT=$(keyplane dataplane status --socket "$DIR/a.sock" --json | node -e '
  const s = JSON.parse(require("fs").readFileSync(0, "utf8"));
  console.log(s.sas.find((sa) => sa.direction === "out").packets);')
A_SEEN=$(tshark -r "$DIR/link.pcap" -Y 'esp.spi == 0x0000a001' 2>/dev/null | wc -l)
say "site A's outbound SA counted $A_OUT packets; tshark saw $A_SEEN ESP packets with its SPI on the link"
[ "$A_OUT" -gt 0 ] || die "site A's outbound SA counted no packets"

echo
echo "${green}${bold}demo OK${off}: ping and a TCP transfer of ${SIZE_MB} MB crossed keyplane's ESP tunnel intact, and the link showed only ESP in UDP."
if [ "$KEEP" = 1 ]; then
  echo
  echo "Both sites are still running (--keep). Look around with:"
  echo "  node dist/src/cli/main.js dataplane status --socket $DIR/a.sock"
  echo "  ip netns exec $NS_A ping $INNER_B"
  echo "  ip netns exec $NS_A tshark -i $VETH_A"
  echo "and remove everything with:  bash scripts/demo-manual.sh --cleanup"
else
  say "Cleaning up: stopping both data planes and deleting the namespaces (pass --keep to look around first)."
fi
