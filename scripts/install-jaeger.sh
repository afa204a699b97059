#!/usr/bin/env bash
# Build a real Jaeger v2 binary into .jaeger/jaeger from the Go module registry (cached: a second
# run with the same version does nothing). Used by `make test` for tests/test_jaeger_e2e.py.
#
# Why a throwaway module: Jaeger's module path has no /v2, so its v2.x tags are not valid module
# versions, and the last v1.x tag (v1.76.0 = Jaeger v2.13.0) carries a `replace` directive, which
# `go install pkg@version` refuses. Requiring the module from a scratch go.mod (with the same
# replace copied in) and `go build`-ing cmd/jaeger works. Nothing but the Go proxy is contacted.
#
# When Go is missing or the build fails, this prints why, records it in .jaeger/UNAVAILABLE and
# exits 0 so the rest of `make test` runs; the Jaeger test then FAILS with that reason (it never
# skips). Set JAEGER_INSTALL_STRICT=1 to make this script itself fail instead.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/.jaeger"
BIN="$DEST/jaeger"
MODULE="github.com/jaegertracing/jaeger"
VERSION="${JAEGER_MODULE_VERSION:-v1.76.0}"   # v1.76.0 is the module version of Jaeger v2.13.0
STAMP="$DEST/VERSION"

unavailable() {
    mkdir -p "$DEST"
    printf '%s\n' "$1" > "$DEST/UNAVAILABLE"
    echo "install-jaeger: $1" >&2
    if [ "${JAEGER_INSTALL_STRICT:-0}" = "1" ]; then exit 1; fi
    exit 0
}

if [ -x "$BIN" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$VERSION" ]; then
    echo "install-jaeger: cached $BIN ($MODULE@$VERSION)"
    exit 0
fi

command -v go >/dev/null 2>&1 || unavailable "Go is not installed (need Go >= 1.24.6 on PATH to build Jaeger v2 from $MODULE@$VERSION)"

# Only the module proxy: drop the ",direct" fallback so a missing module never turns into a git
# clone from GitHub; never download a newer toolchain either.
PROXY="$(go env GOPROXY)"
PROXY="${PROXY%%,direct}"; PROXY="${PROXY%%|direct}"
# Use the proxy Go is configured with (`go env GOPROXY`); name none here.
[ -n "$PROXY" ] && [ "$PROXY" != "direct" ] && [ "$PROXY" != "off" ] \
    || unavailable "go env GOPROXY names no module proxy (got '$(go env GOPROXY)'); set one with 'go env -w GOPROXY=...'"
export GOPROXY="$PROXY"
export GOTOOLCHAIN=local
export GOFLAGS="-mod=mod -buildvcs=false"
# Module and build caches: keep whatever the environment says (CI caches ~/go/pkg/mod and
# ~/.cache/go-build between runs); fall back under .jaeger/ when there is no HOME.
if [ -z "${HOME:-}" ]; then
    export GOPATH="${GOPATH:-$DEST/gopath}" GOCACHE="${GOCACHE:-$DEST/gocache}"
fi

WORK="$DEST/build"
rm -rf "$WORK"
mkdir -p "$WORK"
cd "$WORK"

echo "install-jaeger: building $MODULE/cmd/jaeger@$VERSION with $(go version | cut -d' ' -f3) via the configured GOPROXY"
start=$(date +%s)

# The dependency's own replace directives apply only in the main module: copy them here.
MODFILE="$(go mod download -json "$MODULE@$VERSION" 2>"$WORK/download.err" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')" \
    || unavailable "cannot fetch $MODULE@$VERSION from the configured GOPROXY: $(tail -3 "$WORK/download.err")"
[ -n "$MODFILE" ] && [ -f "$MODFILE" ] || unavailable "cannot fetch $MODULE@$VERSION from the configured GOPROXY: $(tail -3 "$WORK/download.err")"
GOLINE="$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$MODFILE" | head -1)"
{
    echo "module mcproute.local/jaegerbuild"
    echo
    echo "go ${GOLINE:-1.24}"
    echo
    echo "require $MODULE $VERSION"
    echo
    grep -E '^replace ' "$MODFILE" || true
} > go.mod
cat > tools.go <<'EOF'
//go:build tools

package tools

import _ "github.com/jaegertracing/jaeger/cmd/jaeger"
EOF

NICE=""
command -v nice >/dev/null 2>&1 && NICE="nice -n 10"
if ! $NICE go build -o "$WORK/jaeger" "$MODULE/cmd/jaeger" > "$WORK/build.log" 2>&1; then
    unavailable "go build of $MODULE/cmd/jaeger@$VERSION failed: $(grep -v '^go: downloading' "$WORK/build.log" | tail -5 | tr '\n' ' ')"
fi
end=$(date +%s)

mv "$WORK/jaeger" "$BIN"
echo "$VERSION" > "$STAMP"
rm -f "$DEST/UNAVAILABLE"
printf 'module=%s@%s go=%s seconds=%s built=%s\n' "$MODULE" "$VERSION" "$(go version | cut -d' ' -f3)" "$((end - start))" \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$DEST/BUILD_INFO"
echo "install-jaeger: built $BIN in $((end - start))s"
