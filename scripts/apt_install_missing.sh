#!/usr/bin/env bash
# Installs the Debian packages given as arguments that are not installed
# yet; does nothing (and needs no privileges) when all are. Uses sudo when
# not root.
#
#   scripts/apt_install_missing.sh [--no-service-start] package...
#
# --no-service-start keeps packaged services (nginx, say) from starting
# during the install: a policy-rc.d that refuses them exists only for the
# duration of apt-get.
set -euo pipefail

no_service_start=0
if [[ ${1:-} == --no-service-start ]]; then
  no_service_start=1
  shift
fi

missing=()
for p in "$@"; do
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
echo "$(basename "$0"): installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if [[ $no_service_start == 1 ]]; then
  policy=/usr/sbin/policy-rc.d
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod +x "$policy"
    trap '$SUDO rm -f "$policy"' EXIT
  fi
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
