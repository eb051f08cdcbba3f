#!/usr/bin/env bash
# Set up everything the check-in needs on a fresh Debian/Ubuntu machine:
# the Debian packages (speech, audio), a virtual environment in .venv, and the
# package itself. Safe to run again: it only does what is missing.
#
#   bash scripts/setup.sh          # what running the check-in needs
#   bash scripts/setup.sh --test   # plus what the test suite and benchmark need
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

debs=(espeak-ng libespeak-ng1 libportaudio2 alsa-utils python3-venv)
if [ "$want_test" = 1 ]; then
  debs+=(pulseaudio pulseaudio-utils libasound2-plugins sox flite festival festvox-kallpc16k)
fi

missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" = 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

py=${PYTHON:-python3}
if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
  echo "setup: Python 3.10 or newer is needed (found $("$py" --version 2>&1))." >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$py" -m venv .venv
fi
extras=""
[ "$want_test" = 1 ] && extras="[test,bench]"
stamp=".venv/.installed$extras"
full=".venv/.installed[test,bench]"  # the test setup includes everything the check-in needs
if [ -f "$full" ] && [ ! pyproject.toml -nt "$full" ]; then
  stamp="$full"
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing Python packages into .venv (first time takes a minute)"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  if ! .venv/bin/python -m pip install -q -e ".$extras" > .venv/pip-install.log 2>&1; then
    cat .venv/pip-install.log >&2
    echo "setup: installing the Python packages failed (log above, also in .venv/pip-install.log)" >&2
    exit 1
  fi
  touch "$stamp"
fi
