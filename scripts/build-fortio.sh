#!/usr/bin/env bash
# Builds fortio (fortio.org, the load generator of Istio's own performance
# tests) into bench/.tools/fortio for bench/waypoint.ts's open-loop phase.
# An external peer, like stunnel and haproxy: needs Go (apt golang-go, or any
# Go >= 1.22) and the Go module proxy. v1.66.5 is the newest release whose
# dependencies the module proxy serves here (later ones pull grol.io).
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION="${FORTIO_VERSION:-v1.66.5}"
if [ -x bench/.tools/fortio ] && bench/.tools/fortio version 2>/dev/null | grep -q "${VERSION#v}"; then
  echo "build-fortio: bench/.tools/fortio ${VERSION} already built"; exit 0
fi
command -v go >/dev/null || { echo "build-fortio: needs Go (apt-get install golang-go)" >&2; exit 1; }
mkdir -p bench/.tools
echo "build-fortio: building fortio ${VERSION} (about a minute)…"
GOFLAGS=-mod=mod GOBIN="$PWD/bench/.tools" go install "fortio.org/fortio@${VERSION}"
bench/.tools/fortio version
