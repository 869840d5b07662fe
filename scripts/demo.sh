#!/usr/bin/env bash
# keyplane demo (the main job): a central setting server hands IPsec settings to devices
# on demand (seed 000). The devices never run IKE with each other: the first packet
# between two of them is held, both ends receive identical policy and SA parameters from
# the controller, and the traffic flows encrypted. Run as root on Debian 12:
#
#   bash scripts/demo.sh              # install what is needed, run the demo, clean up
#   bash scripts/demo.sh --keep       # leave everything running to look around
#   bash scripts/demo.sh --cleanup    # remove what a --keep run left
#
# Other options: --skip-install (dependencies and build are there already), --dir DIR
# (work folder, default /tmp/keyplane-demo; one you name is kept afterwards, with the
# configs, logs and capture), --size-mb N (TCP transfer size, default 4).
#
# The network (every box is a network namespace; the "Internet" is a bridge):
#
#   site A: host hA 10.1.0.10 -- gw-a (router mode) 192.0.2.1 --+
#   site B: host hB 10.2.0.10 -- gw-b (router mode) 192.0.2.2 --+-- Internet -- controller 192.0.2.10
#   pc (PC mode) 192.0.2.3, own protected address 10.3.0.3 ------+
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

P=kpd   # namespace and interface prefix
NS_NET=${P}net NS_CTL=${P}ctl NS_GWA=${P}gwa NS_GWB=${P}gwb NS_PC=${P}pc NS_HA=${P}ha NS_HB=${P}hb
ALL_NS="$NS_HA $NS_HB $NS_GWA $NS_GWB $NS_PC $NS_CTL $NS_NET"
CTL=192.0.2.10 GWA=192.0.2.1 GWB=192.0.2.2 PC=192.0.2.3
HA=10.1.0.10 HB=10.2.0.10 PC_OWN=10.3.0.3
NET_A=10.1.0.0/24 NET_B=10.2.0.0/24
API=http://127.0.0.1:4580

DIR=/tmp/keyplane-demo SIZE_MB=4
DEMO_NAMESPACES=$ALL_NS DEMO_DIE_LOGS=1
# shellcheck source=scripts/demo-lib.sh
. "$ROOT/scripts/demo-lib.sh"
demo_parse_args "$@"

# The admin CLI runs next to the controller (its API listens on the controller's loopback).
admin() { echo "${dim}   \$ keyplane $*${off}" >&2; ip netns exec "$NS_CTL" node "$ROOT/dist/src/cli/main.js" "$@" --api "$API" --token-file "$DIR/admin.token"; }

demo_cleanup_only_or_require_root

echo "${bold}keyplane demo: IPsec between any pair of devices, set up by a central controller (seed 000)${off}"
say "Two router-mode gateways with a site behind each, one PC-mode host, and a controller."
say "Nobody configures a pair of devices, and the devices never run IKE with each other."

demo_install
demo_prepare_dir

step "Build the network: seven namespaces, a bridge as the Internet"
for ns in $ALL_NS; do
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
ip -n "$NS_NET" link add br0 type bridge
ip -n "$NS_NET" link set br0 up
attach() { # ns address: a veth from the namespace to the Internet bridge
  local i="${P}i$2"; i=${i//./}; i=${i:0:15}
  ip link add "$i" netns "$1" type veth peer name "${i}x" netns "$NS_NET"
  ip -n "$NS_NET" link set "${i}x" master br0 up
  ip -n "$1" addr add "$2/24" dev "$i"
  ip -n "$1" link set "$i" up
  ip -n "$1" link set "$i" gso_max_segs 1   # one ESP packet per frame in the capture
}
attach "$NS_CTL" "$CTL"; attach "$NS_GWA" "$GWA"; attach "$NS_GWB" "$GWB"; attach "$NS_PC" "$PC"
lan() { # gw-ns host-ns gw-addr host-addr: the site's LAN
  ip link add "${P}l$1" netns "$1" type veth peer name "${P}h" netns "$2"
  ip -n "$1" addr add "$3/24" dev "${P}l$1"; ip -n "$1" link set "${P}l$1" up
  ip -n "$2" addr add "$4/24" dev "${P}h"; ip -n "$2" link set "${P}h" up
  ip -n "$2" route add default via "$3"
  ip netns exec "$1" sysctl -qw net.ipv4.ip_forward=1
}
lan "$NS_GWA" "$NS_HA" 10.1.0.1 "$HA"
lan "$NS_GWB" "$NS_HB" 10.2.0.1 "$HB"
ip -n "$NS_PC" addr add "$PC_OWN/32" dev lo
say "Internet 192.0.2.0/24: controller $CTL, gw-a $GWA, gw-b $GWB, pc $PC"
say "site A $NET_A (host hA $HA) behind gw-a; site B $NET_B (host hB $HB) behind gw-b; pc's own address $PC_OWN"

step "Start the controller (embedded SQLite store, keys encrypted at rest under a 0600 master key)"
echo "${dim}   \$ ip netns exec $NS_CTL keyplane controller run --listen $CTL:4501 --store $DIR/controller.db ... &${off}"
ip netns exec "$NS_CTL" node "$ROOT/dist/src/cli/main.js" controller run --listen "$CTL:4501" \
  --store "$DIR/controller.db" --master-key "$DIR/master.key" --admin-token-file "$DIR/admin.token" \
  --control-socket "$DIR/controller.sock" >"$DIR/controller.log" 2>&1 &
echo $! >"$DIR/controller.pid"
for _ in $(seq 100); do grep -q ' ready: ' "$DIR/controller.log" 2>/dev/null && break; kill -0 "$(cat "$DIR/controller.pid")" 2>/dev/null || die "the controller stopped"; sleep 0.1; done
grep -q ' ready: ' "$DIR/controller.log" || die "the controller did not become ready"
say "control channel on UDP $CTL:4501, admin API on $API (bearer token in $DIR/admin.token, mode 0600)"

step "Enroll the three devices with the IPsec address each may ask settings for"
for d in gw-a:$GWA gw-b:$GWB pc:$PC; do
  name=${d%%:*} addr=${d#*:}
  admin device add "$name" --address "$addr" --controller-address "$CTL" --json >"$DIR/$name.add.json"
  node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); process.stdout.write(j.token)' "$DIR/$name.add.json" >"$DIR/$name.token"
  chmod 600 "$DIR/$name.token" "$DIR/$name.add.json"
  keyplane agent enroll - --file "$DIR/$name.json" <"$DIR/$name.token" >/dev/null
  rm -f "$DIR/$name.token" "$DIR/$name.add.json"
  say "enrolled $name ($addr): enrollment file $DIR/$name.json (0600)"
done
admin device list

step "Policies: which pairs may talk, and how (the seed's distribution policy store)"
admin policy add sites "$GWA" "$GWB" --esp aes256gcm16 --lifetime 3600
admin policy add pc-to-site-b "$PC" "$GWB" --esp chacha20poly1305 --lifetime 3600
admin policy list
say "There is no policy for pc <-> gw-a: that pair must never get keys."

step "Write the agent configs: what to protect, and whom to ask about (no keys, no algorithms)"
agent_config() { # name address mode local remote-spec...
  local name=$1 addr=$2 mode=$3 local_net=$4; shift 4
  {
    echo "enrollment: $DIR/$name.json"
    echo "state: $DIR/$name-state.json"
    echo "mode: $mode"
    echo "address: $addr"
    echo "dataplane: { tun: ${P}$name }"
    echo "protect:"
    for spec in "$@"; do
      echo "  - name: to-${spec%%=*}"
      echo "    peer: ${spec#*=}" | sed 's/,.*//'
      echo "    local: [$local_net]"
      echo "    remote: [${spec##*,}]"
    done
  } >"$DIR/$name.yaml"
  chmod 600 "$DIR/$name.yaml"
}
agent_config gw-a "$GWA" router "$NET_A" "site-b=$GWB,$NET_B" "pc=$PC,$PC_OWN/32"
agent_config gw-b "$GWB" router "$NET_B" "site-a=$GWA,$NET_A" "pc=$PC,$PC_OWN/32"
agent_config pc "$PC" pc "$PC_OWN/32" "site-b=$GWB,$NET_B" "site-a=$GWA,$NET_A"
sed 's/^/   | /' "$DIR/gw-a.yaml"

step "Start an agent on each device (keyplane agent run --config)"
start_agent() { # name ns
  echo "${dim}   \$ ip netns exec $2 keyplane agent run --config $DIR/$1.yaml &${off}"
  ip netns exec "$2" node "$ROOT/dist/src/cli/main.js" agent run --config "$DIR/$1.yaml" --control-socket "$DIR/$1.sock" >"$DIR/$1.log" 2>&1 &
  echo $! >"$DIR/$1.pid"
}
start_agent gw-a "$NS_GWA"; start_agent gw-b "$NS_GWB"; start_agent pc "$NS_PC"
for name in gw-a gw-b pc; do
  for _ in $(seq 150); do
    gen=$( (keyplane agent status --socket "$DIR/$name.sock" --json 2>/dev/null || echo '{}') | node -e 'try { console.log(JSON.parse(require("fs").readFileSync(0, "utf8")).generation ?? 0) } catch { console.log(0) }')
    [ "${gen:-0}" -ge 1 ] && break
    kill -0 "$(cat "$DIR/$name.pid")" 2>/dev/null || die "agent $name stopped"
    sleep 0.1
  done
  [ "${gen:-0}" -ge 1 ] || die "agent $name did not key its control channel"
  say "$name: control channel keyed (seed-004 keys, generation $gen); no IPsec SA yet"
done

step "Capture the Internet with tshark"
ip netns exec "$NS_NET" tshark -i br0 -w "$DIR/internet.pcap" -q >"$DIR/tshark.log" 2>&1 &
echo $! >"$DIR/tshark.pid"
for _ in $(seq 100); do grep -q 'Capturing on' "$DIR/tshark.log" 2>/dev/null && break; sleep 0.1; done

step "First packet: host hA pings host hB (site A -> site B)"
say "gw-a holds the packet, asks the controller; the controller asks gw-b (request activation),"
say "then hands both gateways the same policy and SA parameters at once."
T0=$(date +%s%N)
run ip netns exec "$NS_HA" ping -c 3 -i 0.2 -W 3 "$HB" | sed 's/^/   /'
[ "${PIPESTATUS[0]}" = 0 ] || die "ping from site A to site B failed"
T1=$(date +%s%N)
say "first ping answered; 3 pings in $(( (T1 - T0) / 1000000 )) ms including the setup"
grep -E 'settings.*(request-sent|installed|switched)' "$DIR/gw-a.log" | head -n 4 | sed 's/^/   gw-a | /'
grep -E 'settings.*(request-sent|installed)' "$DIR/gw-b.log" | head -n 3 | sed 's/^/   gw-b | /'

step "TCP from site A to site B: $SIZE_MB MB, SHA-256 on both ends"
head -c "$((SIZE_MB * 1024 * 1024))" /dev/urandom >"$DIR/payload.bin"
SENT=$(sha256sum "$DIR/payload.bin" | cut -d' ' -f1)
ip netns exec "$NS_HB" node -e '
  const [port, file] = process.argv.slice(1);
  const out = require("fs").createWriteStream(file);
  const srv = require("net").createServer((s) => { s.pipe(out); s.on("end", () => srv.close()); });
  srv.listen(Number(port), () => console.log("listening"));
' 5001 "$DIR/received.bin" >"$DIR/sink.log" 2>&1 &
echo $! >"$DIR/sink.pid"
for _ in $(seq 50); do grep -qs listening "$DIR/sink.log" && break; sleep 0.1; done
ip netns exec "$NS_HA" node -e '
  const [host, file] = process.argv.slice(1);
  const s = require("net").connect({ host, port: 5001 }, () => require("fs").createReadStream(file).pipe(s));
  s.on("error", (e) => { console.error(e.message); process.exit(1); });
' "$HB" "$DIR/payload.bin"
for _ in $(seq 100); do kill -0 "$(cat "$DIR/sink.pid")" 2>/dev/null || break; sleep 0.1; done
RECEIVED=$(sha256sum "$DIR/received.bin" | cut -d' ' -f1)
say "sent     $SENT"
say "received $RECEIVED"
[ "$SENT" = "$RECEIVED" ] || die "SHA-256 mismatch"
say "${green}SHA-256 match: $SIZE_MB MB crossed the gw-a <-> gw-b tunnel intact${off}"

step "The PC-mode host talks to site B (its own policy: ChaCha20-Poly1305)"
run ip netns exec "$NS_PC" ping -c 2 -i 0.2 -W 3 -I "$PC_OWN" "$HB" | sed 's/^/   /'
[ "${PIPESTATUS[0]}" = 0 ] || die "ping from the pc to site B failed"

step "No policy, no keys: the PC-mode host tries site A"
if ip netns exec "$NS_PC" ping -c 1 -W 2 -I "$PC_OWN" "$HA" >/dev/null 2>&1; then die "pc reached site A without a policy"; fi
for _ in $(seq 50); do grep -q 'no-policy' "$DIR/pc.log" && break; sleep 0.1; done
grep -m1 'no-policy' "$DIR/pc.log" | sed 's/^/   pc | /'
say "${green}refused: the controller found no policy for pc <-> gw-a; the held packet was dropped${off}"

step "What crossed the Internet"
kill -INT "$(cat "$DIR/tshark.pid")"
for _ in $(seq 50); do kill -0 "$(cat "$DIR/tshark.pid")" 2>/dev/null || break; sleep 0.1; done
rm -f "$DIR/tshark.pid"
ESP=$(tshark -r "$DIR/internet.pcap" -Y 'udp.port == 4500 && esp' 2>/dev/null | wc -l)
CONTROL=$(tshark -r "$DIR/internet.pcap" -Y 'udp.port == 4501' 2>/dev/null | wc -l)
CLEAR=$(tshark -r "$DIR/internet.pcap" -Y "tcp || icmp || ip.addr == $NET_A || ip.addr == $NET_B || ip.addr == $PC_OWN" 2>/dev/null | wc -l)
OTHER=$(tshark -r "$DIR/internet.pcap" -Y 'ip && !(udp.port == 4500 || udp.port == 4501)' 2>/dev/null | wc -l)
say "ESP in UDP/4500 (data):                  $ESP"
say "control channel UDP/4501 (ESP format):   $CONTROL"
say "visible TCP/ICMP or protected addresses: $CLEAR"
say "anything else:                           $OTHER"
[ "$ESP" -gt 0 ] && [ "$CLEAR" = 0 ] && [ "$OTHER" = 0 ] || die "something crossed the Internet in clear"
say "${green}only ESP on the Internet: the pings and the TCP stream were all encrypted${off}"

step "Look at the state"
admin sa list
admin events --limit 12
echo "${dim}   \$ keyplane agent status --socket $DIR/gw-a.sock${off}"
keyplane agent status --socket "$DIR/gw-a.sock" | sed -n '/^Settings/,/^$/p' | sed 's/^/   | /'

echo
echo "${green}${bold}demo OK${off}: the controller set up gw-a <-> gw-b and pc <-> gw-b on the first packet, TCP crossed encrypted, and pc <-> gw-a (no policy) got no keys."
if [ "$KEEP" = 1 ]; then
  echo
  echo "Everything is still running (--keep). Look around with:"
  echo "  ip netns exec $NS_CTL node dist/src/cli/main.js sa list --api $API --token-file $DIR/admin.token"
  echo "  ip netns exec $NS_CTL node dist/src/cli/main.js events --api $API --token-file $DIR/admin.token"
  echo "  node dist/src/cli/main.js agent status --socket $DIR/gw-a.sock"
  echo "  ip netns exec $NS_HA ping $HB"
  echo "and remove everything with:  bash scripts/demo.sh --cleanup"
else
  say "Cleaning up (pass --keep to look around first)."
fi
