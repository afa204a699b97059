#!/usr/bin/env bash
# Makes sure `redis-server` (the Debian package) is on PATH for the Redis state-store tests
# (tests/redis_fixture.py starts its own server on a free loopback port; nothing is left running).
# Idempotent: does nothing when redis-server (or $MCPROUTE_REDIS_SERVER) is already there.
# CI runs as root with apt, so a clean machine gets the package here instead of skipping the
# multi-replica tests. Exits non-zero, saying why, when it cannot install it.
set -euo pipefail

if [ -n "${MCPROUTE_REDIS_SERVER:-}" ] && [ -x "${MCPROUTE_REDIS_SERVER}" ]; then
  exit 0
fi
if command -v redis-server >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-redis: redis-server is missing and apt-get is not available; install Redis >= 6.2 or Valkey" \
       "and put redis-server on PATH (or set MCPROUTE_REDIS_SERVER)" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    echo "install-redis: redis-server is missing; run \`sudo apt-get install redis-server\` (not root, no passwordless sudo)" >&2
    exit 1
  fi
fi
echo "install-redis: installing the redis-server Debian package" >&2
export DEBIAN_FRONTEND=noninteractive
# Try without refreshing the package lists first (fast when they are current), then with.
$SUDO apt-get install -y --no-install-recommends redis-server >/dev/null 2>&1 || {
  $SUDO apt-get update -qq
  $SUDO apt-get install -y --no-install-recommends redis-server
}
# The package may start a system-wide server on 6379; the tests never use it (they start their own).
command -v redis-server >/dev/null 2>&1 || { echo "install-redis: redis-server still not on PATH" >&2; exit 1; }
