#!/usr/bin/env bash
# Installs what keyplane's build, tests and benchmarks need on a fresh Debian 12 machine
# (run as root). Idempotent and quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(tshark iperf3 nftables iproute2 tcpdump openssl iputils-ping g++ make python3
      strongswan-swanctl charon-systemd libcharon-extra-plugins libstrongswan-extra-plugins)
missing=()
for p in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# charon-systemd's package starts a system-wide daemon where systemd runs; the tests
# start their own instances in namespaces, so make sure none is left holding ports.
systemctl stop strongswan 2>/dev/null || true

# npm packages: reinstall when package.json or the lock changed since the last install.
stamp=node_modules/.keyplane-install-stamp
want=$(cat package.json package-lock.json binding.gyp native/* 2>/dev/null | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi
npx tsc -p tsconfig.json
