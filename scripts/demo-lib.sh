# Shared by scripts/demo.sh and scripts/demo-manual.sh (sourced, not run): option parsing,
# output helpers, the cleanup of what a demo started, the dependency step and the work
# folder's safety check. The sourcing script sets, before calling these functions:
#   ROOT             the repository
#   DIR, SIZE_MB     its defaults for --dir and --size-mb
#   DEMO_NAMESPACES  the namespaces cleanup deletes, in order
#   DEMO_DIE_LOGS=1  to show the last lines of every $DIR/*.log when the demo fails
# and uses: SKIP_INSTALL KEEP KEEP_DIR CLEANUP_ONLY SIZE_MB DIR, step say run die keyplane.

# --skip-install --keep --cleanup --dir DIR --size-mb N --help. The help text is the
# script's leading comment block.
demo_parse_args() {
  SKIP_INSTALL=0 KEEP=0 KEEP_DIR=0 CLEANUP_ONLY=0
  while [ $# -gt 0 ]; do
    case "$1" in
      --skip-install) SKIP_INSTALL=1 ;;
      --keep) KEEP=1 ;;
      --cleanup) CLEANUP_ONLY=1 ;;
      --dir) DIR=$2; KEEP_DIR=1; shift ;;
      --size-mb) SIZE_MB=$2; shift ;;
      -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
      *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
  done
}

bold=$'\e[1m' dim=$'\e[2m' green=$'\e[32m' red=$'\e[31m' off=$'\e[0m'
[ -t 1 ] || { bold='' dim='' green='' red='' off=''; }
STEP=0
step() { STEP=$((STEP + 1)); echo; echo "${bold}== $STEP. $1${off}"; }
say() { echo "   $*"; }
run() { echo "${dim}   \$ $*${off}"; "$@"; }
die() {
  echo "${red}demo failed: $*${off}" >&2
  if [ "${DEMO_DIE_LOGS:-0}" = 1 ]; then
    for f in "$DIR"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 15 "$f" >&2; }; done
  fi
  exit 1
}
keyplane() { node "$ROOT/dist/src/cli/main.js" "$@"; }

cleanup() {
  # Stop what this demo started (by the pids it recorded), then remove the namespaces:
  # deleting a namespace removes its veth ends, TUN devices and routes with it.
  for f in "$DIR"/*.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
  done
  for ns in $DEMO_NAMESPACES; do ip netns del "$ns" 2>/dev/null || true; done
}

# --cleanup: remove what a --keep run left, and exit. Otherwise the demo needs root.
demo_cleanup_only_or_require_root() {
  if [ "$CLEANUP_ONLY" = 1 ]; then
    cleanup
    [ -f "$DIR/.keyplane-demo" ] && rm -rf "$DIR"
    echo "removed the demo namespaces and processes, and $DIR"
    exit 0
  fi
  [ "$(id -u)" = 0 ] || die "run as root (network namespaces and TUN devices need it)"
}

# The first step: scripts/install-deps.sh (or, with --skip-install, an existing build),
# then the commands every demo needs. $1: an optional line saying what gets installed.
demo_install() {
  step "Install dependencies and build"
  if [ "$SKIP_INSTALL" = 1 ]; then
    say "skipped (--skip-install): using the existing build in dist/"
    [ -f dist/src/cli/main.js ] || die "no build in dist/: run without --skip-install (or: npx tsc -p .)"
  else
    [ -z "${1:-}" ] || say "$1"
    run bash scripts/install-deps.sh
  fi
  for cmd in ip tshark ping sha256sum node; do command -v "$cmd" >/dev/null || die "$cmd is missing"; done
}

# A fresh, private work folder, and cleanup on exit (unless --keep and success). Only
# ever deletes a folder a demo made (it carries a marker file).
demo_prepare_dir() {
  if [ -e "$DIR" ] && [ -n "$(ls -A "$DIR" 2>/dev/null)" ] && [ ! -f "$DIR/.keyplane-demo" ]; then
    die "$DIR exists and is not a demo folder; pick another --dir"
  fi
  trap 'status=$?; if [ "$KEEP" = 1 ] && [ $status = 0 ]; then exit 0; fi; cleanup; [ "$KEEP" = 1 ] || [ "$KEEP_DIR" = 1 ] || rm -rf "$DIR"; exit $status' EXIT
  trap 'exit 130' INT TERM
  cleanup # leftovers of an earlier run
  rm -rf "$DIR"
  mkdir -p -m 0700 "$DIR"
  touch "$DIR/.keyplane-demo"
}
