#!/usr/bin/env bash
# Install what DELTA3 needs into .venv (and, as root on Debian/Ubuntu, the system packages).
# Usage: scripts/setup.sh [runtime|dev]
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-runtime}"
# bubblewrap: the sandbox. The rest is the runtime code in the sandbox gets (README: "Code runs"):
# Debian's python3 with the data libraries, pip for per-user installs, and Node.js with npm.
system_packages=(bubblewrap python3 python3-venv python3-pip python3-numpy python3-pandas python3-scipy
                 python3-sympy python3-matplotlib python3-requests python3-pil python3-bs4 python3-openpyxl
                 python3-lxml fontconfig nodejs)
# Debian's npm package conflicts with NodeSource's nodejs, which bundles npm: ask for it only when missing.
command -v npm >/dev/null || system_packages+=(npm)
[ "$profile" = dev ] && system_packages+=(chromium)

missing=()
for pkg in "${system_packages[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "Installing system packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  elif command -v sudo >/dev/null && command -v apt-get >/dev/null; then
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "Please install these system packages yourself: ${missing[*]}" >&2
  fi
fi

python3 -m venv .venv
requirements=requirements.txt
[ "$profile" = dev ] && requirements=requirements-dev.txt
.venv/bin/pip install -q --disable-pip-version-check -r "$requirements"
