#!/usr/bin/env bash
# Makes sure the Debian-packaged peers of the multi-replica tests are on PATH:
#   redis-server  tests/redis_fixture.py starts its own server on a free loopback port (AOF on);
#   nginx         tests/nginx_fixture.py starts its own load balancer from a temp nginx.conf.
# Nothing is left running: the tests start and stop them. Idempotent: installs only what is missing
# ($MCPROUTE_REDIS_SERVER / $MCPROUTE_NGINX point at other binaries).
# CI runs as root with apt, so a clean machine gets the packages here instead of skipping the
# multi-replica tests. Exits non-zero, saying why, when it cannot install them.
set -euo pipefail

missing=()
if ! { [ -n "${MCPROUTE_REDIS_SERVER:-}" ] && [ -x "${MCPROUTE_REDIS_SERVER}" ]; } \
   && ! command -v redis-server >/dev/null 2>&1; then
  missing+=(redis-server)
fi
# Debian puts nginx in /usr/sbin, which a non-root PATH may lack.
if ! { [ -n "${MCPROUTE_NGINX:-}" ] && [ -x "${MCPROUTE_NGINX}" ]; } \
   && ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  missing+=(nginx-light)
fi
[ "${#missing[@]}" -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-debian-peers: missing ${missing[*]} and apt-get is not available; install Redis >= 6.2 (or Valkey)" \
       "and nginx, and put them on PATH (or set MCPROUTE_REDIS_SERVER / MCPROUTE_NGINX)" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    echo "install-debian-peers: missing ${missing[*]}; run \`sudo apt-get install ${missing[*]}\` (not root, no passwordless sudo)" >&2
    exit 1
  fi
fi
echo "install-debian-peers: installing the Debian packages ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Try without refreshing the package lists first (fast when they are current), then with.
$SUDO apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
  $SUDO apt-get update -qq
  $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
}
# The packages may start system-wide services (redis on 6379, nginx on 80); the tests never use them.
command -v redis-server >/dev/null 2>&1 || [ -n "${MCPROUTE_REDIS_SERVER:-}" ] \
  || { echo "install-debian-peers: redis-server still not on PATH" >&2; exit 1; }
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || [ -n "${MCPROUTE_NGINX:-}" ] \
  || { echo "install-debian-peers: nginx still not installed" >&2; exit 1; }
