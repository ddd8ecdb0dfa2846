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
# test tools: headless Chromium for the HTML report tests
[ -n "$extras" ] && debs="$debs chromium"
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

# test tools: the Khronos glTF validator (npm) for the export tests
if [ -n "$extras" ] && [ ! -d tools/gltf/node_modules/gltf-validator ]; then
  if command -v npm >/dev/null 2>&1; then
    npm install --silent --no-audit --no-fund --prefix tools/gltf gltf-validator@2.0.0-dev.3.10 >/dev/null
  else
    echo "warning: npm not found; the glTF validator tests will fail (install nodejs and npm)" >&2
  fi
fi
