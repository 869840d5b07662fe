#!/usr/bin/env bash
# The whole test suite: installs what it needs, type-checks, lints, then runs unit,
# property and vector tests in parallel and the network-namespace tests one at a time.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh || exit 1
echo "== lint"
npx eslint src test bench || exit 1
out=$(mktemp -d)
run() { # name, node --test args...
  local name=$1; shift
  echo "== $name"
  node --test --test-reporter=spec --test-reporter-destination=stdout \
       --test-reporter=tap --test-reporter-destination="$out/$name.tap" "$@"
}
status=0
# Every test folder but netns: unit, property, vector and simulator tests, in parallel.
unit_dirs=$(find dist/test -mindepth 1 -maxdepth 1 -type d ! -name netns ! -name vectors | sort)
run unit $unit_dirs || status=1
# Namespace tests own veth pairs, TUN devices and daemons: one file at a time.
run netns --test-concurrency=1 dist/test/netns || status=1
pass=$(cat "$out"/*.tap | awk '/^# pass /{s+=$3} END{print s+0}')
fail=$(cat "$out"/*.tap | awk '/^# fail /{s+=$3} END{print s+0}')
echo
echo "tests: ${pass:-0} passed, ${fail:-0} failed"
[ "${fail:-0}" = 0 ] || status=1
exit $status
