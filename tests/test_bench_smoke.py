"""The benchmark keeps working: a handful of utterances through the real path.

Real espeak-ng, sox, PocketSphinx, matcher, engine and TTS; no timing
assertions (performance lives in bench/, see bench/results/results.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench import corpus as C
from bench import report

REPO = Path(__file__).resolve().parent.parent


def _utt(label: C.Label) -> C.Utterance:
    return C.Utterance(label, "en-us", 150, None, "none", 0, "x")


def test_negated_answers_may_never_be_yes_and_stop_must_be_heard():
    spec = C.NodeSpec("f", "n", {"yes": ("yes", "sure"), "no": ("no",)})
    labels = {lab.text: lab for lab in C.labels_for_node(spec, {"stop": ("stop",)}, "red")}
    neg = _utt(labels["not really"])
    assert neg.label.expected == "intent:no"
    assert report.is_misroute(neg, "intent:yes")
    assert not report.is_misroute(neg, "reject")
    stop = _utt(labels["stop"])
    assert report.is_misroute(stop, "reject")
    assert not report.is_misroute(stop, "command:stop")
    red = _utt(labels["red"])
    assert not report.is_misroute(red, "command:stop")
    assert report.is_misroute(red, "intent:yes")
    assert labels["the weather is nice today"].expected == "reject"


def test_sample_is_deterministic_and_stratified():
    spec = C.NodeSpec("f", "n", {"yes": ("yes", "sure"), "no": ("no", "no thanks")})
    labels = C.labels_for_node(spec, {"stop": ("stop", "we're done")}, "red")
    per = {"in_scope": 3, "out_of_scope": 2}
    a = C.sample(labels, C.VOICES_EN, C.RATES, C.SNRS, per)
    b = C.sample(labels, C.VOICES_EN, C.RATES, C.SNRS, per)
    assert a == b
    assert len(a) == 4 * 5
    assert {u.noise for u in a if u.snr is None} == {"none"}
    assert all(u.noise in C.NOISES for u in a if u.snr is not None)


def test_quick_benchmark_runs_the_real_streaming_path(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--backends", "pocketsphinx", "--snr", "clean",
         "--no-baseline", "--idle-seconds", "0.5", "--cache", str(tmp_path / "cache"), "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    run = summary["runs"][0]
    assert run["backend"] == "pocketsphinx"
    assert run["engine_nodes"] == run["nodes"] > 0, "the engine should reach every listening node"
    assert run["peak_rss_mb"] > 0 and run["rtf"] > 0
    assert summary["headline"]["misroutes"] == 0, "clean safe word / stop / negated answers misrouted"
    text = (out / "results.md").read_text()
    assert "## Targets" in text and "| pocketsphinx | clean |" in text
    for png in ("accuracy_vs_snr.png", "latency.png"):
        assert (out / png).stat().st_size > 1000
    # nothing heard or spoken is written into the results
    assert "heard" not in json.dumps(run)


def test_reject_rules_judge_stop_phrases_with_their_own_floor():
    from bench.rejection import Features, product_rule

    def f(hyp, ratio):
        return Features("x", hyp, 0.9, 100, ratio, False, "", 0.0, 0.0)
    rule = product_rule(ratio_min=-15, priority_min=-21, priority=frozenset({"repeat"}),
                        stops=frozenset({"i am done"}), stop_min=-25)
    assert rule(f("yes", -14)) == "yes" and rule(f("yes", -16)) == ""
    assert rule(f("repeat", -20)) == "repeat" and rule(f("repeat", -22)) == ""
    assert rule(f("i am done", -24)) == "i am done" and rule(f("i am done", -26)) == ""
    never = product_rule(stops=frozenset({"i am done"}), stop_min=None)
    assert never(f("i am done", -90)) == "i am done"


def test_rejection_sweep_runs_on_real_decoder_scores(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "bench.rejection", "--sample", "quick",
                           "--cache", str(tmp_path)], cwd=REPO, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "grammar alone (ceiling of any reject rule)" in proc.stdout
    assert "product: ratio>=-15, stops>=-25" in proc.stdout
    feats = json.loads((tmp_path / "features-quick-1.json").read_text())
    assert feats and all(set(d) >= {"hyp", "ratio", "stop_hyp"} for d in feats)
