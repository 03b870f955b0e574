#!/usr/bin/env bash
# Makes a WebGPU adapter available to Dawn (npm `webgpu`) on a CPU-only Debian bookworm CI machine:
# installs Mesa's lavapipe Vulkan driver and the Vulkan loader from bookworm-backports (Mesa 25.x;
# bookworm's own 22.3 lavapipe is rejected by Dawn). Idempotent: does nothing when Dawn already finds
# an adapter, and re-running after an install only re-checks. Run as root from the project root
# (after `npm ci`). Quiet on success; any failure stops the script with a message and exit code 1.
set -euo pipefail

say() { echo "install-lavapipe: $*" >&2; }
fail() { say "ERROR: $*"; exit 1; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Prints the adapter's description and exits 0 when Dawn finds one, else exits 1. Without
# node_modules (the script may run before `npm ci`), a backports Mesa (>= 25) lavapipe counts.
probe() {
  if [ ! -d "$here/node_modules/webgpu" ]; then
    v=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null) || return 1
    [ "${v%%.*}" -ge 25 ] 2>/dev/null || return 1
    echo "lavapipe (mesa-vulkan-drivers $v; Dawn not checked: node_modules/webgpu missing)"
    return 0
  fi
  (cd "$here" && XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp} timeout 60 node --input-type=module -e "
    import { create } from 'webgpu';
    const gpu = create(['backend=vulkan']);
    const a = await gpu.requestAdapter();
    if (a === null) process.exit(1);
    console.log(a.info.description || a.info.vendor || 'adapter');
    process.exit(0);
  " 2>/dev/null)
}

if desc=$(probe); then
  say "WebGPU adapter already available: $desc"
  exit 0
fi

[ "$(id -u)" = 0 ] || fail "no WebGPU adapter and not root: cannot install lavapipe"
. /etc/os-release
[ "${VERSION_CODENAME:-}" = bookworm ] || fail "expected Debian bookworm, found ${PRETTY_NAME:-unknown}"

export DEBIAN_FRONTEND=noninteractive
bpo=/etc/apt/sources.list.d/bpo.sources
if ! grep -qs 'bookworm-backports' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null; then
  src=/etc/apt/sources.list.d/debian.sources
  if [ -s "$src" ]; then
    # The first stanza of the deb822 sources, with its suite switched to bookworm-backports.
    awk 'BEGIN{RS="";ORS="\n\n"} NR==1' "$src" | sed 's/^Suites:.*/Suites: bookworm-backports/' > "$bpo"
  else
    printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' > "$bpo"
  fi
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
apt-get update -qq >"$log" 2>&1 || { cat "$log" >&2; fail "apt-get update failed"; }
apt-get install -y -qq --no-install-recommends -t bookworm-backports mesa-vulkan-drivers libvulkan1 >"$log" 2>&1 \
  || { cat "$log" >&2; fail "installing mesa-vulkan-drivers/libvulkan1 from bookworm-backports failed"; }

if desc=$(probe); then
  say "installed lavapipe: $desc"
else
  fail "lavapipe installed but Dawn still finds no Vulkan adapter (check 'vulkaninfo --summary' and XDG_RUNTIME_DIR)"
fi
