#!/usr/bin/env bash
# Installs what the real Anki desktop (aqt, Qt WebEngine) needs for tests/test_desktop.py:
# Xvfb and the libraries Qt's xcb platform and WebEngine load. Needs root and Debian's package
# archive; aqt itself comes from pip (the test extra). Without them the desktop tests skip.
set -euo pipefail

packages=(
  xvfb xauth fonts-dejavu
  libnss3 libnspr4 libdbus-1-3 libfontconfig1 libegl1 libgl1 libgbm1
  libx11-xcb1 libxkbcommon0 libxkbcommon-x11-0 libxkbfile1 libxcomposite1 libxdamage1
  libxrandr2 libxtst6 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1
  libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1
)

missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
# The ALSA library was renamed on newer Debian and Ubuntu.
dpkg -s libasound2 >/dev/null 2>&1 || dpkg -s libasound2t64 >/dev/null 2>&1 || missing+=(asound)
if [ "${#missing[@]}" -eq 0 ]; then
  echo "desktop: Xvfb and Qt's libraries are installed"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "desktop: missing ${missing[*]} and no apt-get here; the desktop tests will skip or fail" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "desktop: missing ${missing[*]} and not root" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
if [[ " ${missing[*]} " == *" asound "* ]]; then
  missing=("${missing[@]/asound/}")
  if apt-cache show libasound2t64 >/dev/null 2>&1; then missing+=(libasound2t64); else missing+=(libasound2); fi
fi
$sudo apt-get install -y -qq --no-install-recommends ${missing[*]} >/dev/null
echo "desktop: installed ${missing[*]}"
