#!/usr/bin/env python3
"""Run the aftercare companion from a source checkout: ``python run.py --help``.

Same command line as ``python -m skill`` and the installed ``aftercare``.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from skill.shell.cli import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
