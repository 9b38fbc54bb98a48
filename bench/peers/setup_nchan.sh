#!/usr/bin/env bash
# Installs nginx with Debian's nchan module (the peer that bench/run_all.sh
# compares notifyd against), when missing. Idempotent; needs root or sudo.
# The stock nginx service is not started: run_nchan.sh runs its own instance
# on loopback under a private prefix.
set -euo pipefail

PACKAGES=(nginx libnginx-mod-nchan)
# Any installed nginx flavour will do.
if command -v nginx >/dev/null; then
  PACKAGES=(libnginx-mod-nchan)
fi

# The packaged service must not grab port 80 or keep running after install.
exec bash "$(dirname "$0")/../../scripts/apt_install_missing.sh" \
  --no-service-start "${PACKAGES[@]}"
