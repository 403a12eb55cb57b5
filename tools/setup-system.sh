#!/usr/bin/env bash
# Installs the Debian packages pqk-mcu needs, only those missing. Idempotent and quick when done.
set -euo pipefail
# Speech engines of the keyword corpus (pqk_mcu/train/data/tts.py): espeak-ng, flite, festival and its voices.
packages=(gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm espeak-ng flite festival festvox-kallpc16k
          festvox-kdlpc16k festvox-us-slt-hts gcc make cmake openocd)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${missing[*]}"
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
