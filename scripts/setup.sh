#!/usr/bin/env bash
# Installs the Debian 12 packages notifyd needs to build and test, when missing.
# Idempotent: a machine that already has everything does nothing.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libspdlog-dev libfmt-dev
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libsqlite3-dev libpq-dev libhiredis-dev libssl-dev libjwt-dev libnghttp2-dev
  libsystemd-dev
  libgtest-dev libgmock-dev
  clang libclang-rt-14-dev clang-format
  curl python3-grpcio nghttp2-client
)
# Browser tests need Chromium and Node.js; a machine that already has node
# (from any source) keeps it, since Debian's npm conflicts with other builds.
# PostgreSQL, Redis and nginx are started by the tests that need them, on
# loopback, and never as system services.
if [[ "${NOTIFYD_TEST_DEPS:-0}" == 1 ]]; then
  # nghttp2-client: the `nghttp` HTTP/2 client of the edge's h2 tests.
  PACKAGES+=(chromium postgresql redis-server nginx nghttp2-client)
  # sqlite3: the README's online backup, run by tests/server/backup_test;
  # lintian and systemd-analyze (systemd) check the package and its unit.
  PACKAGES+=(sqlite3 lintian systemd)
  # The push service stand-in of the Web Push tests
  # (tests/support/push_service.py): VAPID JWTs and aes128gcm decryption.
  PACKAGES+=(python3-cryptography python3-jwt)
  command -v node >/dev/null || PACKAGES+=(nodejs)
  command -v npm >/dev/null || PACKAGES+=(npm)
fi

exec bash "$(dirname "$0")/apt_install_missing.sh" --no-service-start \
  "${PACKAGES[@]}"
