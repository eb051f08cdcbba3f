"""``python -m skill``: the same command line as ``run.py`` and ``aftercare``."""

from skill.cli import main

raise SystemExit(main())
