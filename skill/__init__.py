"""Aftercare: an offline, hands-free voice companion for a calm spoken check-in.

The dialogue engine (``skill.dialogue.engine``) is pure: events in, actions out
(``skill.dialogue.protocol``). Text mode, the speech loop and the tests are thin shells
around it.
"""

__version__ = "0.1.0"
