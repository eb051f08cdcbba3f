"""Out-of-grammar rejection and stop spotting, tuned offline from decoder scores.

Each utterance is decoded once, through the product's endpointer and noise
floor, by every decoder a rule might use: the node grammar (what the product
hears), an unconstrained phone loop, a loop of the grammar's words, and a
grammar of only the stop phrases and the safe word. Their scores are kept
(in the cache, never in the repo), so a rejection or stop-spotting rule is a
few lines of arithmetic that can be swept in a second instead of a 12-minute
benchmark run.

Rules are tuned on a *tuning* sample drawn with a different seed from the
benchmark's own sample (utterances in both are dropped from the tuning one),
then checked once on the benchmark sample:

    python -m bench.rejection --sample tune     # decode (minutes), then sweep
    python -m bench.rejection --sample test     # the benchmark's sample

Results are read off the printed tables; what they decided is in
bench/tuning_log.md (entry 7).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from bench import REPO, default_cache
from bench import corpus as C
from bench import report
from skill.settings import SAFE_WORD

if TYPE_CHECKING:
    from pocketsphinx import Decoder

log = logging.getLogger("bench.rejection")

TUNE_SEED = C.SEED + 1000


@dataclass
class Features:
    """What the decoders made of one utterance (scores per 10 ms frame)."""

    id: str
    hyp: str            # the node grammar's answer ("" = nothing)
    conf: float         # mean word posterior of that answer
    frames: int
    ratio: float        # grammar path vs phone loop (the product's check)
    loop_agrees: bool   # the word loop heard the same phrase
    stop_hyp: str       # best stop phrase / safe word
    stop_gap: float     # (grammar path - best stop path) per frame, >= 0 in theory
    stop_ratio: float   # best stop path vs phone loop


def word_loop_jsgf(phrases: Sequence[str]) -> str:
    """Any sequence of the phrases' words (the word-loop rival, dropped 11-27)."""
    words = sorted({w for p in phrases for w in p.split()})
    return (f"#JSGF V1.0;\ngrammar loop;\npublic <loop> = <w>+;\n"
            f"<w> = {' | '.join(words)};\n")


class Timed:
    """A decoder fed beside the recognizer's own, its CPU time and audio counted."""

    def __init__(self, decoder: "Decoder", cpu: dict[str, float], name: str):
        self.decoder, self.cpu, self.name = decoder, cpu, name
        self.audio_s = 0.0  # seconds of audio fed

    def start_utt(self) -> None:
        self.decoder.start_utt()

    def process_raw(self, data: bytes, no_search: bool = False, full_utt: bool = False) -> int:
        self.audio_s += len(data) / 32000
        c0 = time.process_time()
        try:
            return self.decoder.process_raw(data, no_search, full_utt)
        finally:
            self.cpu[self.name] += time.process_time() - c0

    def end_utt(self) -> None:
        self.decoder.end_utt()


def decode_all(utts: Sequence[C.Utterance], cache: Path, progress: bool = True) -> list[Features]:
    """Decode every utterance with the four decoders; returns their features.

    The product's recognizer decodes as in a session (grammar and phone
    loop; its ``last_scores`` are read before its reject check); the word
    loop and the stop grammar are fed beside it as its ``companions``.
    """
    from bench.run import Pipeline, make_recognizer
    from skill.speech.recognizer_sphinx import acoustic_score, jsgf_for

    pipe = Pipeline(REPO / "dialogs", "en")
    stops = pipe.stops
    rec = make_recognizer("pocketsphinx", None, stops)
    corpus = C.Corpus(cache)
    corpus.ensure(utts)
    cpu = {"recognizer": 0.0, "loop": 0.0, "stops": 0.0}
    stop_dec = rec.new_decoder()
    stop_dec.add_jsgf_string("stops", jsgf_for(rec.usable_phrases(stops)))
    stop_dec.activate_search("stops")
    loop_dec = rec.new_decoder()  # the word loop the product used until 11-26
    timed_loop = Timed(loop_dec, cpu, "loop")
    rec.companions = [timed_loop, Timed(stop_dec, cpu, "stops")]
    loops: dict[tuple[str, ...], str] = {}
    out: list[Features] = []
    t_start = time.time()
    for i, u in enumerate(utts):
        pcm, _ = corpus.load(u)
        rec.start(pipe.context(u.label).phrases)
        key = rec.grammar or ()
        if key not in loops:
            loops[key] = f"loop{len(loops)}"
            loop_dec.add_jsgf_string(loops[key], word_loop_jsgf(key))
        loop_dec.activate_search(loops[key])
        rec.last_scores = None
        result = None
        c0 = time.process_time()
        for off in range(0, len(pcm), 3200):
            result = rec.feed(pcm[off:off + 3200])
            if result is not None:
                break
        if result is None:
            result = rec.flush()
        cpu["recognizer"] += time.process_time() - c0
        scores = rec.last_scores
        if result is None or scores is None:
            out.append(Features(u.id, "", 0.0, 0, -math.inf, False, "", math.inf, -math.inf))
            continue
        text = scores.text
        g, n = scores.grammar, max(1, scores.frames)
        p = scores.phones if scores.phones is not None else -math.inf
        s, _ = acoustic_score(list(stop_dec.seg() or ()))
        loop = loop_dec.hyp()
        sh = stop_dec.hyp()
        out.append(Features(
            u.id, text, scores.confidence, scores.frames,
            scores.ratio if text else -math.inf,
            loop is not None and loop.hypstr.strip() == text and bool(text),
            sh.hypstr.strip() if sh is not None else "", (g - s) / n, (s - p) / n))
        if progress and (i + 1) % 25 == 0:
            print(f"  {i + 1}/{len(utts)} decoded ({time.time() - t_start:.0f} s)", file=sys.stderr)
    cpu["recognizer"] -= cpu["loop"] + cpu["stops"]
    audio_s = timed_loop.audio_s
    if audio_s:
        print("decoder CPU per second of utterance audio (recognizer = endpointer, grammar and phone loop): " +
              ", ".join(f"{k} {v / audio_s:.3f}" for k, v in cpu.items()), file=sys.stderr)
    return out


# --------------------------------------------------------------------------
# Rules (pure): features -> the text the recognizer would hand the engine
# --------------------------------------------------------------------------

Rule = Callable[[Features], str]


def product_rule(ratio_min: float = -15.0, priority_min: float = -21.0,
                 priority: frozenset[str] = frozenset(), stops: frozenset[str] = frozenset(),
                 stop_min: float | None = -25.0, use_loop: bool = False) -> Rule:
    """The recognizer's reject check; ``stop_min=None``: stop phrases never rejected."""
    def rule(f: Features) -> str:
        if not f.hyp:
            return ""
        if f.hyp in stops:
            if stop_min is None or f.ratio >= stop_min:
                return f.hyp
            return ""
        floor = priority_min if f.hyp in priority else ratio_min
        if f.ratio >= floor or (use_loop and f.loop_agrees):
            return f.hyp
        return ""
    return rule


def with_stop_spotter(base: Rule, gap_max: float, stop_ratio_min: float = -math.inf) -> Rule:
    """Whatever ``base`` says, unless a stop phrase explains the audio almost as
    well as the grammar's best path: then that stop phrase."""
    def rule(f: Features) -> str:
        if f.stop_hyp and f.stop_gap <= gap_max and f.stop_ratio >= stop_ratio_min:
            return f.stop_hyp
        return base(f)
    return rule


@dataclass
class Score:
    """The benchmark's own scoring (``report.Cell``) plus stops nobody asked for."""

    cell: report.Cell
    false_stops: int = 0   # a non-stop utterance taken as stop

    def line(self) -> str:
        c = self.cell
        return (f"acc {c.accuracy or 0:6.1%} ({c.in_scope_ok}/{c.in_scope})  "
                f"FA {c.false_accept or 0:5.1%} ({c.oos_accepted}/{c.oos})  "
                f"misroutes {c.misroutes:2d}  commands {c.commands_ok}/{c.commands}  "
                f"false stops {self.false_stops}")


def evaluate(rule: Rule, feats: dict[str, Features], utts: Sequence[C.Utterance],
             outcome: Callable[[C.Utterance, str], str], snrs=None) -> Score:
    chosen = {u.id: u for u in utts if u.id in feats and (snrs is None or u.snr in snrs)}
    turns = [{"id": uid, "outcome": outcome(u, rule(feats[uid])), "endpointed": True}
             for uid, u in chosen.items()]
    stops = ("command:stop", "safe_word")
    false_stops = sum(1 for t in turns if t["outcome"] in stops
                      and chosen[t["id"]].label.expected not in stops)
    return Score(report.score(chosen, turns), false_stops)


def outcome_fn():
    """The product's matcher over the node's intents (the engine asks the same)."""
    from bench.run import Pipeline, outcome_of
    pipe = Pipeline(REPO / "dialogs", "en")

    def outcome(u: C.Utterance, text: str) -> str:
        if not text:
            return "reject"
        ctx = pipe.context(u.label)
        return outcome_of(pipe.matcher.match(text, ctx.intents, 1.0))
    return outcome, pipe


def tune_sample(scale: float) -> list[C.Utterance]:
    """A sample drawn like the benchmark's, with another seed, minus the benchmark's own."""
    labels, _ = C.build_english(REPO / "dialogs", {})  # labels only
    per = {k: max(1, round(v * scale)) for k, v in C.SAMPLE_EN.items()}
    bench_ids = {(u.label.text, u.label.flow, u.label.node, u.voice, u.rate, u.snr)
                 for u in C.sample(labels, C.VOICES_EN, C.RATES, C.SNRS, C.SAMPLE_EN)}
    picks = C.sample(labels, C.VOICES_EN, C.RATES, C.SNRS, per, seed=TUNE_SEED)
    return [u for u in picks if (u.label.text, u.label.flow, u.label.node, u.voice, u.rate, u.snr)
            not in bench_ids]


def test_sample() -> list[C.Utterance]:
    _, utts = C.build_english(REPO / "dialogs", C.SAMPLE_EN)
    return utts


def sweep(feats: dict[str, Features], utts: Sequence[C.Utterance]) -> None:
    from skill.speech.recognizer import spellings
    from skill.speech.recognizer_sphinx import PRIORITY_PHRASES, normalize_phrase
    outcome, pipe = outcome_fn()
    raw_stops = pipe.stops
    stops = frozenset(spellings(raw_stops, normalize_phrase))
    prio = frozenset(spellings(PRIORITY_PHRASES, normalize_phrase))
    # before 2026-11-27: stop phrases matched only as written ("i'm done", not the
    # grammar's "i am done"), never rejected, word loop on
    old_stops = frozenset(normalize_phrase(p) for p in raw_stops)
    old_prio = frozenset(normalize_phrase(p) for p in PRIORITY_PHRASES + ("stop", SAFE_WORD)) | old_stops
    rows: list[tuple[str, Rule]] = [
        ("grammar alone (ceiling of any reject rule)", lambda f: f.hyp),
        ("product until 11-26 (word loop, stops never rej.)",
         product_rule(priority=old_prio, stops=old_stops, stop_min=None, use_loop=True)),
        ("product: ratio>=-15, stops>=-25, no word loop", product_rule(priority=prio, stops=stops)),
        ("  the same with the word loop", product_rule(priority=prio, stops=stops, use_loop=True)),
        ("  stops never rejected", product_rule(priority=prio, stops=stops, stop_min=None)),
    ]
    for floor in (-15, -19, -21, -23):
        rows.append((f"  stops>={floor}", product_rule(priority=prio, stops=stops, stop_min=floor)))
    for r in (-17, -19, -21, -25):
        rows.append((f"  ratio>={r}", product_rule(r, min(r, -21), prio, stops)))
    for gap in (0.5, 2.0):
        rows.append((f"  + stop grammar within {gap}/frame of the best path",
                     with_stop_spotter(product_rule(priority=prio, stops=stops), gap)))
    for name, snrs in (("clean", {None}), ("10 dB", {10.0}), ("all SNRs", None)):
        print(f"\n## {name}")
        for label, rule in rows:
            print(f"{label:52s} {evaluate(rule, feats, utts, outcome, snrs).line()}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.rejection", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sample", choices=("tune", "test", "quick"), default="tune",
                    help="tune: another seed than the benchmark's; test: the benchmark's own; "
                         "quick: a handful of clean utterances (smoke test)")
    ap.add_argument("--scale", type=float, default=1.0, help="tuning sample size, x the benchmark's")
    ap.add_argument("--cache", type=Path, default=default_cache())
    ap.add_argument("--redecode", action="store_true", help="decode again even if features are cached")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    args.cache.mkdir(parents=True, exist_ok=True)
    if args.sample == "quick":
        labels, _ = C.build_english(REPO / "dialogs", {})
        utts = C.sample(labels, C.VOICES_EN, C.RATES, (None,), C.QUICK_EN, seed=TUNE_SEED)
    else:
        utts = tune_sample(args.scale) if args.sample == "tune" else test_sample()
    path = args.cache / f"features-{args.sample}-{args.scale:g}.json"
    if path.exists() and not args.redecode:
        feats = {d["id"]: Features(**d) for d in json.loads(path.read_text())}
    else:
        feats = {f.id: f for f in decode_all(utts, args.cache)}
        path.write_text(json.dumps([f.__dict__ for f in feats.values()]))
    print(f"{args.sample} sample: {len(utts)} utterances")
    sweep(feats, utts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
