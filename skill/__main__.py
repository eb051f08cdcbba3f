"""``python -m skill``: the same command line as ``run.py`` and ``aftercare``."""

from skill.shell.cli import main

raise SystemExit(main())
