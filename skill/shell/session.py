"""Opening a check-in, the same way for both shells.

:func:`open_session` turns :class:`~skill.settings.Settings` and the loaded
dialogues into what a shell drives: the notes store (or none), the
:class:`~skill.dialogue.protocol.SessionContext` the engine reads (names,
setting, safe word, earlier notes, ...) and the engine itself.
:func:`event_log` opens the ``--events`` log. The text shell
(:mod:`skill.shell.textmode`) and the voice shell (:mod:`skill.shell.voice_loop`)
differ only in how they hear and speak.

A notes folder that cannot be used never stops a check-in: notes are then
simply not offered (one warning line).
"""

from __future__ import annotations

import logging
import random
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from skill.dialogue.dialog import Bundle
from skill.dialogue.engine import Engine
from skill.dialogue.protocol import Event, NoteFailed, NoteSaved, SessionContext
from skill.settings import Settings
from skill.storage.eventlog import EventLog, open_private
from skill.storage.notes import EarlierNotes, NotesError, NotesStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Session:
    """What a shell needs to run one check-in."""

    engine: Engine
    context: SessionContext
    notes: NotesStore | None  # None: notes are off, or the folder cannot be used


def seed_for(settings: Settings) -> int:
    """The wording seed: the one given (``--seed``, to repeat a session), else a fresh one."""
    return settings.seed if settings.seed is not None else random.SystemRandom().randrange(2**31)


def open_notes(settings: Settings) -> NotesStore | None:
    """The notes store for this check-in, or None when notes are off or unusable."""
    if not settings.notes_enabled:
        return None
    try:
        store = NotesStore(settings.notes_dir or None)
        store.begin_session(settings.flow, people=list(settings.names))
    except Exception as exc:  # an unusable notes folder must not stop a check-in
        log.warning("notes unavailable: %s", exc)
        return None
    return store


def context_for(settings: Settings, notes: NotesStore | None) -> SessionContext:
    """What the engine knows about this check-in, earlier notes included (none if unreadable)."""
    names = list(settings.names)
    earlier = EarlierNotes()
    if notes is not None:
        try:
            earlier = notes.earlier_notes(names)
        except Exception as exc:
            log.warning("could not read earlier notes: %s", exc)
    return SessionContext(
        names=names,
        setting=settings.setting,
        safe_word=settings.safe_word,
        notes_enabled=notes is not None,
        last_notes=list(earlier.notes),
        last_notes_ours=earlier.ours,
        last_notes_from=earlier.whose,
        last_notes_when=earlier.when,
        support_line=settings.support_line or "",
    )


def open_session(settings: Settings, bundle: Bundle) -> Session:
    """Settings and dialogues -> notes, context and engine for one check-in."""
    notes = open_notes(settings)
    context = context_for(settings, notes)
    engine = Engine(bundle, settings.flow, context, seed=seed_for(settings))
    return Session(engine, context, notes)


def keep_note(store: NotesStore | None, text: str) -> Event:
    """Keep a note; a failure becomes NoteFailed with one line saying why, never a crash."""
    if store is None:
        return NoteFailed("notes are not available")
    try:
        return NoteSaved(str(store.add(text)))
    except NotesError as exc:  # one line that says why: permission, disk full, read-only
        log.warning("%s", exc)
        return NoteFailed(str(exc))
    except Exception as exc:  # never the text: an exception's message might quote it
        log.warning("could not keep a note: %s", exc.__class__.__name__)
        return NoteFailed(exc.__class__.__name__)


def forget_last_note(store: NotesStore | None) -> None:
    """Forget the note kept last in this session (a failure is one warning line)."""
    if store is not None:
        try:
            store.delete_last()
        except Exception as exc:
            log.warning("could not forget the note: %s", exc.__class__.__name__)


@contextmanager
def event_log(target: str | None) -> Iterator[tuple[EventLog, bool]]:
    """The ``--events`` log (a no-op log without a target) and whether it owns standard output.

    Raises :class:`~skill.storage.eventlog.EventLogRefused` (one line) for an
    unsafe target; the file is closed when the block ends.
    """
    stream, to_stdout = open_private(target)
    try:
        yield EventLog(stream), to_stdout
    finally:
        if stream is not None and not to_stdout:
            try:
                stream.close()
            except OSError:
                pass
