"""The measuring instrument: a synthetic speech corpus and a streaming benchmark.

Performance lives here, never in timed tests. ``python -m bench.corpus`` builds
the labelled corpus (audio cached outside the repo); ``python -m bench`` runs
every backend over it through the real streaming path and writes
``bench/results/``.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def default_cache() -> Path:
    """Where generated audio lives: never inside the repo, never committed."""
    env = os.environ.get("AFTERCARE_BENCH_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "aftercare-bench"
