#!/usr/bin/env bash
# Installs Debian's chromium for the preview's browser tests (tests/test_preview.py), unless a
# Chromium is already there. Needs root and Debian's package archive; downloads no browser build.
set -euo pipefail

for name in chromium chromium-browser google-chrome google-chrome-stable; do
  if command -v "$name" >/dev/null 2>&1; then
    echo "chromium: using $(command -v "$name") ($("$name" --version 2>/dev/null || echo '?'))"
    exit 0
  fi
done

if ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium: not installed and no apt-get here; the browser tests will skip" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "chromium: not installed and not root; the browser tests will skip" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# With its recommended packages, as tested: they bring the fonts (fonts-liberation).
$sudo apt-get install -y -qq chromium >/dev/null
echo "chromium: installed $(chromium --version 2>/dev/null || echo '?')"
