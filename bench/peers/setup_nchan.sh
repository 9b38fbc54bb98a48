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

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  SUDO="sudo"
fi
echo "setup_nchan: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# The packaged service must not grab port 80 or keep running after install:
# policy-rc.d tells invoke-rc.d to skip starting services during this install.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod +x "$policy"
  created_policy=1
fi
trap '[[ $created_policy == 1 ]] && $SUDO rm -f "$policy"' EXIT
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
