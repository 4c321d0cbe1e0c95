#!/usr/bin/env bash
# Installs the Debian packages anomem needs, if any is missing (idempotent,
# non-interactive).  Uses sudo when not run as root.
set -euo pipefail
# chromium: the test that renders the evaluation report headless
packages=(build-essential cmake pkg-config libopenblas-openmp-dev libdnnl-dev libjansson-dev
          libpng-dev libjpeg-dev zlib1g-dev chromium)
if [ "${ANOMEM_WITH_DEV_TOOLS:-0}" = 1 ]; then
    # fuzzing: clang with libFuzzer, and clang's OpenMP runtime
    packages+=(clang libclang-rt-14-dev libomp-dev)
fi
missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
