#!/usr/bin/env bash
# One command: set up what the tests need, then run the whole test suite
# (unit, conversation, real speech through a virtual PulseAudio server, soak,
# crash-safety, and the benchmark smoke test). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
  echo "test: pytest collected no tests; that is a failure here." >&2
  exit 1
fi
exit "$rc"
