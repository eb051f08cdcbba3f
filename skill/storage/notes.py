"""Private notes: kept only when asked, kept safely, easy to delete.

What people say in aftercare is among the most private things they say aloud,
so this store keeps as little as possible: one small Markdown file per
session, holding only the notes the person said yes to (a date, flow and
people header, never the conversation). The folder is 0700 and files are
0600; every change rewrites the session file atomically (``skill.storage.atomic``), so a crash at
any instant leaves the old file or the new one, never a torn one. No file is
created for a session in which nothing was kept.

Shells use a tiny API::

    store = NotesStore(folder)
    store.earlier_notes(["Sam", "Alex"])  # for the reflection flow: theirs only
    store.begin_session("aftercare", people=["Sam", "Alex"])
    note_id = store.add("more blankets next time")
    store.delete_last()                 # "forget that"

Every OS problem surfaces as one :class:`NotesError` with a one-line message
that says why (permission, disk full, read-only), so the shell can send
``NoteFailed`` and carry on.

Several sessions may share one folder: a new session file is published with
an exclusive create (``atomic.Staged.publish_new``), so two sessions in the
same second get two files, and clean-ups remove only stale temporary files
(``atomic.sweep``), never a neighbour's save in progress. ``list`` and
``delete_all`` handle every entry they can and name the ones they cannot;
a symlinked notes folder is refused (it could point anywhere).
"""

from __future__ import annotations

import argparse
import errno
import os
import re
import stat
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable, Sequence

from skill.storage import atomic, paths
from skill.dialogue.render import UNKNOWN_NOTES_FROM, join_names
from skill.dialogue.readlimit import read_bounded
from skill.settings import NAME_SEPARATOR, split_names

TITLE = "# Aftercare notes"
NOTES_HEADING = "## Notes"
SUFFIX = ".md"
MAX_NOTE_CHARS = 4000
#: A session file bigger than this is not one of ours (a session keeps a few short notes).
MAX_FILE_BYTES = 4 * 1024 * 1024
#: How many sessions may start in the same second with the same flow.
MAX_SAME_NAME = 1000
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_FLOW_RE = re.compile(r"[^a-z0-9_]+")
#: The ``People:`` value of a solo check-in where no name was given. Names hold
#: only letters, spaces, - and ' (``config.check_names``), so it is never a name.
NO_NAMES = "(no names given)"
DATE_FORMAT = "%Y-%m-%d %H:%M"
#: Spoken in English whatever the machine's locale (``%A``/``%B`` follow it).
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")


class NotesError(Exception):
    """Any failure to read or write notes, as one line fit to show a person."""


class NotesPartlyDone(NotesError):
    """``delete_all`` removed what it could; ``problems`` names each entry it could not."""

    def __init__(self, deleted: int, problems: list[str]) -> None:
        self.deleted = deleted
        self.problems = problems
        super().__init__(f"deleted {deleted} session{'s' if deleted != 1 else ''}, but could not delete: "
                         + "; ".join(problems))


@dataclass(frozen=True)
class SessionInfo:
    """One session's notes file, as listed by ``notes list``."""

    session_id: str
    date: str
    flow: str
    notes: tuple[str, ...]
    path: Path
    #: The names given for the session; () for a solo check-in without a name;
    #: None for a file written before notes recorded whose they are.
    people: tuple[str, ...] | None = None


@dataclass(frozen=True)
class EarlierNotes:
    """The notes the reflection flow may offer, and how to speak of them.

    ``ours`` is True when they are from exactly the people present now; then
    they are simply "from last time". Otherwise ``whose`` names their people
    ("Sam and Alex", or "an earlier check-in" for an old file), so the flow
    asks before reading. ``when`` is spoken: "earlier today", "yesterday",
    "on Tuesday", "on 3 November"; "" when the file has no readable date.
    """

    notes: tuple[str, ...] = ()
    ours: bool = True
    whose: str = ""
    when: str = ""


# --------------------------------------------------------------------------
# Pure part: render and parse one session file
# --------------------------------------------------------------------------


def _plain(text: str) -> str:
    """Printable text on one line: control and format characters (escape codes)
    become spaces, as in typed input (``textmode.read_line``)."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in str(text)).split())


def clean_note(text: str) -> str:
    """One line of plain text: dictation has no line breaks worth keeping."""
    return _plain(text)[:MAX_NOTE_CHARS]


def render(date: str, flow: str, notes: list[str], people: Sequence[str] | None = None) -> str:
    """The whole Markdown file for a session (``people`` None: no ``People:`` line)."""
    lines = [TITLE, "", f"- Date: {date}", f"- Flow: {flow}"]
    if people is not None:
        lines.append(f"- People: {(NAME_SEPARATOR + ' ').join(people) if people else NO_NAMES}")
    lines += ["", NOTES_HEADING, ""]
    lines += [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def parse(text: str) -> tuple[str, str, list[str]]:
    """(date, flow, notes) from a session file; tolerant of hand edits."""
    date = flow = ""
    notes: list[str] = []
    in_notes = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("## "):
            in_notes = stripped == NOTES_HEADING
            continue
        if not stripped.startswith("- "):
            continue
        item = _plain(stripped[2:])  # a hand-edited escape code never reaches a terminal or a voice
        if in_notes:
            if item:
                notes.append(item)
        elif item.startswith("Date:"):
            date = item[5:].strip()
        elif item.startswith("Flow:"):
            flow = item[5:].strip()
    return date, flow, notes


def parse_people(text: str) -> tuple[str, ...] | None:
    """Whose notes a session file holds: names, () for solo, None if not recorded."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("## "):
            return None  # the header ends where the notes begin
        if stripped.startswith("- People:"):
            value = stripped[len("- People:"):].strip()
            if not value or value.startswith("("):
                return ()
            return tuple(n for n in split_names(value) if n)
    return None


def same_people(a: Sequence[str], b: Sequence[str]) -> bool:
    return {n.casefold() for n in a} == {n.casefold() for n in b}


def shares_someone(a: Sequence[str], b: Sequence[str]) -> bool:
    return bool({n.casefold() for n in a} & {n.casefold() for n in b})


def spoken_people(people: Sequence[str] | None) -> str:
    """"Sam and Alex", "Sam, Alex and Jo"; "an earlier check-in" when not recorded."""
    return UNKNOWN_NOTES_FROM if people is None else join_names(people)


def spoken_when(date: str, now: datetime) -> str:
    """When a note was kept, as said aloud; "" when ``date`` cannot be read."""
    try:
        kept = datetime.strptime(date.strip(), DATE_FORMAT)
    except ValueError:
        return ""
    days = (now.date() - kept.date()).days
    if days < 0:
        return ""  # a clock that went back: better unsaid than wrong
    if days == 0:
        return "earlier today"
    if days == 1:
        return "yesterday"
    if days < 7:
        return f"on {DAYS[kept.weekday()]}"
    day = f"on {kept.day} {MONTHS[kept.month - 1]}"
    return day if kept.year == now.year else f"{day} {kept.year}"


def printable(text: object) -> str:
    """``text`` safe for a terminal: control and format characters (escape codes,
    bidi overrides) are shown as ``\\xNN`` instead of acting on the screen.
    Line breaks and tabs stay."""
    return "".join(ch if ch.isprintable() or ch in "\n\t" else
                   (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}") for ch in str(text))


_REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the disk is read-only",
    errno.EFBIG: "the file would be larger than this system allows",
}


def reason(error: OSError) -> str:
    """Why an OS call failed, in words a person understands (plus the system's own)."""
    own = error.strerror or str(error)
    friendly = _REASONS.get(error.errno or 0)
    return f"{friendly} ({own})" if friendly else own


def _one_line(error: OSError, doing: str, where: Path) -> NotesError:
    return NotesError(printable(f"could not {doing} in {where}: {reason(error)}").replace("\n", " "))


def read_notes_file(path: Path) -> str:
    """A session file's text: a regular file only (no symlink, pipe or device), bounded."""
    try:
        data = read_bounded(path, MAX_FILE_BYTES, follow_symlinks=False)
    except IsADirectoryError:
        raise NotesError(f"{path.name}: a folder, not a notes file") from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise NotesError(f"{path.name}: a symbolic link, not a notes file") from None
        raise NotesError(f"{path.name}: could not be read: {reason(error)}") from None
    except ValueError as error:
        raise NotesError(f"{path.name}: {error}") from None
    return data.decode("utf-8", errors="replace")


# --------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------


@dataclass
class NotesSession:
    """The notes of one running session; the file appears with the first note."""

    store: "NotesStore"
    session_id: str
    flow: str
    date: str
    notes: list[str] = field(default_factory=list)
    written: bool = False
    people: tuple[str, ...] | None = None
    base_id: str = ""

    @property
    def path(self) -> Path:
        return self.store.root / f"{self.session_id}{SUFFIX}"

    def add(self, text: str) -> str:
        """Keep ``text``; returns an id like ``20261126-221500-aftercare#2``."""
        note = clean_note(text)
        if not note:
            raise NotesError("there was nothing to keep in that note")
        self.notes.append(note)
        try:
            self._write()
        except NotesError:
            self.notes.pop()
            raise
        return f"{self.session_id}#{len(self.notes)}"

    def delete_last(self) -> bool:
        """Forget the most recent note of this session. False if there was none."""
        if not self.notes:
            return False
        removed = self.notes.pop()
        try:
            self._write()
        except NotesError:
            self.notes.append(removed)
            raise
        return True

    def _write(self) -> None:
        root = self.store.root
        try:
            self.store.ensure_folder()
            if self.notes:
                data = render(self.date, self.flow, self.notes, self.people).encode("utf-8")
                with atomic.Staged(root, f"{self.session_id}{SUFFIX}", data) as staged:
                    atomic.pause_for_tests(str(staged.path))
                    if self.written:
                        staged.replace(self.path)
                    else:
                        self.session_id = self._publish_new(staged)
                        self.written = True
            elif self.written:
                atomic.remove(self.path)
                self.written = False
        except OSError as error:
            raise _one_line(error, "keep the note", root) from None

    def _publish_new(self, staged: atomic.Staged) -> str:
        """Give the staged file a name no other session has: ``ID``, ``ID-2``, ..."""
        base = self.base_id or self.session_id
        self.base_id = base
        for n in range(1, MAX_SAME_NAME + 1):
            candidate = base if n == 1 else f"{base}-{n}"
            try:
                staged.publish_new(self.store.root / f"{candidate}{SUFFIX}")
            except FileExistsError:
                continue
            return candidate
        raise NotesError(f"more than {MAX_SAME_NAME} sessions named {base} in {self.store.root}; "
                         "delete some with 'notes delete'")


class NotesStore:
    """The notes folder: one ``.md`` file per session that kept a note."""

    def __init__(self, root: Path | str | None = None, now: Callable[[], datetime] = datetime.now):
        self.root = Path(root).expanduser() if root else paths.notes_dir()
        self._now = now
        self.current: NotesSession | None = None

    # ---- folder -----------------------------------------------------------

    def refuse_symlink(self) -> None:
        """A notes folder that is a symbolic link could point anywhere: refuse it."""
        if self.root.is_symlink():
            try:
                target = os.readlink(self.root)
            except OSError:
                target = "?"
            raise NotesError(printable(f"the notes folder {self.root} is a symbolic link (to {target}); "
                                       "give the real folder with --notes-dir or notes_dir in the settings"))

    def ensure_folder(self) -> None:
        """Create the folder private (0700), or tighten it if it is not."""
        self.refuse_symlink()
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        mode = stat.S_IMODE(self.root.stat().st_mode)
        if mode & 0o077:
            os.chmod(self.root, 0o700)
        self.sweep()

    def sweep(self) -> int:
        """Remove stale temporary files (a crash's or a killed session's, never a
        running session's save). Quiet: returns how many went."""
        if self.root.is_symlink() or not self.root.is_dir():
            return 0
        return atomic.sweep(self.root)

    # ---- one session ------------------------------------------------------

    def begin_session(self, flow: str, people: Sequence[str] | None = None) -> NotesSession:
        """Start a session's notes. Touches no file until a note is kept.

        ``people`` are the names given for the session ([] for a solo check-in);
        they are written with the notes so that only the same people are offered
        them later. None records nobody (as files did before names were kept).
        """
        moment = self._now()
        slug = _FLOW_RE.sub("-", (flow or "check-in").lower()).strip("-") or "check-in"
        session_id = f"{moment:%Y%m%d-%H%M%S}-{slug}"
        self.current = NotesSession(self, session_id, flow or "check-in", f"{moment:{DATE_FORMAT}}",
                                    people=None if people is None else tuple(people),
                                    base_id=session_id)
        self.sweep()  # what a killed earlier session may have left
        return self.current

    def add(self, text: str) -> str:
        """Keep a note in the current session (begun on demand)."""
        if self.current is None:
            self.begin_session("check-in")
        assert self.current is not None
        return self.current.add(text)

    def delete_last(self) -> bool:
        """Forget the note kept most recently in the current session."""
        return self.current.delete_last() if self.current else False

    # ---- all sessions -----------------------------------------------------

    def _names(self) -> list[str]:
        """The session file names in the folder (sorted); [] when there is no folder."""
        self.refuse_symlink()
        try:
            names = sorted(os.listdir(self.root))
        except FileNotFoundError:
            return []
        except OSError as error:
            raise _one_line(error, "read the notes", self.root) from None
        return [n for n in names if n.endswith(SUFFIX) and not n.startswith(".")]

    def scan(self) -> tuple[list[SessionInfo], list[str]]:
        """(every session that could be read, oldest first; one line per entry that could not)."""
        found: list[SessionInfo] = []
        problems: list[str] = []
        for name in self._names():
            path = self.root / name
            try:
                text = read_notes_file(path)
                date, flow, notes = parse(text)
            except NotesError as error:
                problems.append(str(error))
                continue
            found.append(SessionInfo(name[: -len(SUFFIX)], date, flow, tuple(notes), path,
                                     parse_people(text)))
        return found, problems

    def list(self) -> list[SessionInfo]:
        """Every session with a readable notes file, oldest first (see :meth:`scan`)."""
        return self.scan()[0]

    def earlier_notes(self, people: Sequence[str]) -> EarlierNotes:
        """The earlier notes the reflection flow may offer to ``people``.

        Private means private: notes of exactly the same people come first
        (the most recent); failing that, notes that someone present took part
        in, and then old notes that do not say whose they are; both of those
        are offered by name and date, so the people present decide. Notes of
        other people only are never offered. A solo check-in without a name
        gets only notes kept the same way.
        """
        ours, shared, unknown = range(3)  # in order of preference
        current = self.current.session_id if self.current and self.current.written else None
        earlier = [info for info in self.list() if info.session_id != current and info.notes]
        ranked: list[tuple[int, SessionInfo]] = []
        for info in earlier:
            if info.people is None:
                rank = unknown
            elif same_people(info.people, people):
                rank = ours
            elif shares_someone(info.people, people):
                rank = shared
            else:
                continue  # other people's notes: never offered, never named
            ranked.append((rank, info))
        if not ranked:
            return EarlierNotes()
        best = min(rank for rank, _ in ranked)
        info = [i for rank, i in ranked if rank == best][-1]  # list() is oldest first
        return EarlierNotes(notes=info.notes, ours=best == ours,
                            whose="" if best == ours else spoken_people(info.people),
                            when=spoken_when(info.date, self._now()))

    def _path_for(self, session_id: str) -> Path:
        session_id = session_id.strip()
        if session_id.endswith(SUFFIX):
            session_id = session_id[: -len(SUFFIX)]
        path = self.root / f"{session_id}{SUFFIX}"
        if not _ID_RE.match(session_id) or not os.path.lexists(path):
            raise NotesError(printable(f"no notes with id {session_id!r}; 'notes list' shows the ids"))
        self.refuse_symlink()
        return path

    def show(self, session_id: str) -> str:
        """The full text of one session's notes file."""
        return read_notes_file(self._path_for(session_id))

    def delete(self, session_id: str) -> None:
        """Delete one session's notes file."""
        path = self._path_for(session_id)
        try:
            atomic.remove(path)
        except OSError as error:
            raise _one_line(error, "delete the notes", self.root) from None
        if self.current and self.current.path == path:
            self.current.notes.clear()
            self.current.written = False

    def delete_all(self) -> int:
        """Delete every notes file (and stale leftovers). Returns how many sessions.

        Needs no file to be readable: every entry named ``*.md`` that is not a
        folder is unlinked (a symbolic link is removed, never its target). One
        entry that cannot go never protects the others: the rest are deleted,
        then :class:`NotesPartlyDone` names what is left.
        """
        count = 0
        problems: list[str] = []
        for name in self._names():
            path = self.root / name
            try:
                info = os.lstat(path)
                if stat.S_ISDIR(info.st_mode):
                    problems.append(printable(f"{name} (a folder, not a notes file; left in place)"))
                    continue
                os.unlink(path)
            except FileNotFoundError:
                continue
            except OSError as error:
                problems.append(printable(f"{name} ({reason(error)})"))
                continue
            count += stat.S_ISREG(info.st_mode)
        if count:
            try:
                atomic.fsync_dir(self.root)
            except OSError:
                pass
        self.sweep()
        if self.current:
            self.current.notes.clear()
            self.current.written = False
        if problems:
            raise NotesPartlyDone(count, problems)
        return count


# --------------------------------------------------------------------------
# CLI: python run.py notes list | show ID | delete ID | delete --all
# --------------------------------------------------------------------------


def register_cli(subparsers) -> argparse.ArgumentParser:
    """Add the ``notes`` command to the main parser's subparsers."""
    parser = subparsers.add_parser(
        "notes",
        help="list, show or delete the notes you asked to keep",
        description="Notes are kept only when you say yes to keeping one. "
        "Each session with notes is one Markdown file in the notes folder.",
    )
    where = dict(dest="notes_dir", default=argparse.SUPPRESS, metavar="DIR",
                 help="notes folder (default: the platform's user data folder)")
    parser.add_argument("--notes-dir", **where)
    sub = parser.add_subparsers(dest="notes_command", metavar="{list,show,delete}")
    sub.required = True
    sub.add_parser("list", help="list the sessions that kept notes").add_argument("--notes-dir", **where)
    show = sub.add_parser("show", help="print one session's notes")
    show.add_argument("id", help="a session id from 'notes list'")
    show.add_argument("--notes-dir", **where)
    delete = sub.add_parser("delete", help="delete one session's notes, or all of them")
    delete.add_argument("id", nargs="?", help="a session id from 'notes list'")
    delete.add_argument("--all", action="store_true",
                        help="delete every note (asks first at a terminal; --yes to skip the question)")
    delete.add_argument("-y", "--yes", action="store_true",
                        help="with --all: delete without asking (needed when not at a terminal)")
    delete.add_argument("--notes-dir", **where)
    parser.set_defaults(func=run_cli)
    return parser


def _configured_dir(args: argparse.Namespace, err) -> str | None:
    """``notes_dir`` from the settings file, so the CLI finds the notes the check-ins keep."""
    from skill.storage import config

    given = vars(args).get("config")  # absent when the notes parser is used alone
    values, problems = config.load(Path(given).expanduser() if given else paths.config_file())
    for problem in problems:
        print(problem, file=err)
    return values.get("notes_dir")


def _confirm_delete_all(store: NotesStore, args: argparse.Namespace, stdin, out, err) -> bool | None:
    """True to go ahead; False if the person said no; None if nobody could be asked."""
    if vars(args).get("yes"):  # only "delete" has --yes
        return True
    try:
        at_terminal = stdin is not None and stdin.isatty()
    except ValueError:  # a closed stream
        at_terminal = False
    if not at_terminal:
        print("notes delete --all: not at a terminal, so nothing was deleted; "
              "add --yes to delete every note without asking", file=err)
        return None
    count = len(store.list())
    if count == 0:
        return True  # nothing to lose; say so below
    sessions = f"{count} check-in{'s' if count != 1 else ''}"
    out.write(printable(f"Delete the notes of all {sessions} in {store.root}? This cannot be undone. [y/N] "))
    out.flush()
    answer = stdin.readline()
    if not answer:
        out.write("\n")
    return answer.strip().lower() in ("y", "yes")


def run_cli(args: argparse.Namespace, out=None, err=None, stdin=None) -> int:
    """Carry out a ``notes`` command; returns the exit code.

    Everything shown passes through :func:`printable`, so a hand-edited note
    (or a ``notes_dir`` setting) holding escape codes cannot drive the terminal.
    """
    out = out or sys.stdout
    err = err or sys.stderr
    stdin = stdin or sys.stdin
    store = NotesStore(vars(args).get("notes_dir") or _configured_dir(args, err))
    command = args.notes_command
    try:
        store.sweep()  # hidden temporary files a killed session left hold a whole note
        if command == "list":
            sessions, problems = store.scan()
            if not sessions and not problems:
                print(printable(f"No notes are kept. (Notes folder: {store.root})"), file=out)
                return 0
            for info in sessions:
                count = len(info.notes)
                who = "-" if info.people is None else (", ".join(info.people) or "solo")
                print(printable(f"{info.session_id}  {info.date or '-':16}  {info.flow or '-':10}  "
                                f"{count} note{'s' if count != 1 else ''}  {who}"), file=out)
            for problem in problems:
                print(printable(f"notes: not listed: {problem}"), file=err)
            return 1 if problems else 0
        if command == "show":
            out.write(printable(store.show(args.id)))
            return 0
        if command == "delete":
            if args.all and args.id:
                print("notes delete: give an id or --all, not both", file=err)
                return 2
            if args.all:
                confirmed = _confirm_delete_all(store, args, stdin, out, err)
                if confirmed is None:
                    return 2
                if not confirmed:
                    print("Nothing was deleted.", file=out)
                    return 0
                count = store.delete_all()
                print(f"Deleted all notes ({count} session{'s' if count != 1 else ''}).", file=out)
                return 0
            if not args.id:
                print("notes delete: give an id from 'notes list', or --all", file=err)
                return 2
            store.delete(args.id)
            print(printable(f"Deleted the notes of {args.id.strip()}."), file=out)
            return 0
    except NotesError as error:
        print(printable(f"notes: {error}").replace("\n", " "), file=err)
        return 1
    print(printable(f"notes: unknown command {command!r}"), file=err)
    return 2
