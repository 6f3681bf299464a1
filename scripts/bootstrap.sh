#!/usr/bin/env bash
# Installs what ambit needs on a fresh Debian machine (as root): apt packages,
# npm dependencies and the native addon. Idempotent and quick when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(openssl iproute2 nftables tcpdump iperf3 stunnel4 haproxy make g++ python3 procps)

need_apt=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need_apt+=("$p")
done
if ((${#need_apt[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "ambit: missing system packages: ${need_apt[*]} (run as root, or: sudo apt-get install ${need_apt[*]})" >&2
    exit 1
  fi
  echo "ambit: installing system packages: ${need_apt[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if ! command -v node >/dev/null || ! node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)'; then
  echo "ambit: Node.js >= 20 is required (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

stamp=node_modules/.ambit-installed
if [ ! -f "$stamp" ] || [ package.json -nt "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  echo "ambit: installing npm dependencies" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
  touch "$stamp"
fi

if [ -f native/binding.gyp ] && [ ! -f native/build/Release/ambit_native.node ]; then
  echo "ambit: building the native addon" >&2
  npm run --silent build:native >&2
fi

# A compiled build for the binaries (bin/ambit.js uses it while it is newer
# than every source file, else it loads the sources through tsx).
if [ ! -f dist/.build-stamp ] || [ -n "$(find src -name '*.ts' ! -name '*.test.ts' -newer dist/.build-stamp -print -quit)" ]; then
  echo "ambit: compiling TypeScript (dist/)" >&2
  touch dist/.build-stamp.next 2>/dev/null || { mkdir -p dist && touch dist/.build-stamp.next; }
  npx tsc -p tsconfig.build.json
  mv dist/.build-stamp.next dist/.build-stamp
fi
