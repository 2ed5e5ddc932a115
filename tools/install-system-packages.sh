#!/usr/bin/env bash
# Installs the Debian packages the sandbox needs (bubblewrap), when run as root
# on a Debian-like system. Elsewhere it only says what is missing.
set -euo pipefail
if command -v bwrap >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing bubblewrap (the grading sandbox)"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null
else
  echo "warning: bubblewrap (bwrap) is not installed; grading others' code needs it" >&2
  echo "         (Debian/Ubuntu: sudo apt-get install bubblewrap)" >&2
fi
