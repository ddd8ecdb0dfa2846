#!/usr/bin/env bash
# Install everything id2reflectance needs into ./.venv (idempotent).
#   bash scripts/install.sh          runtime
#   bash scripts/install.sh --test   runtime + test tools
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[ "${1:-}" = "--test" ] && extras="[test]"

# Debian packages: libusb for Open3D, blender-data for the CC0 HDR environment maps.
debs="libusb-1.0-0 blender-data"
if command -v apt-get >/dev/null 2>&1; then
  missing=""
  for p in $debs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    echo "installing Debian packages:$missing"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
  fi
fi

py=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$py" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extras}"
