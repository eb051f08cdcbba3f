#!/usr/bin/env bash
# One command: set up what is needed, then start the check-in.
# Any arguments go to the check-in, e.g.  bash scripts/start.sh --names "Sam,Alex" --setting bath
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python run.py "$@"
