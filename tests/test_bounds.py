"""Bounded time and memory on any input: huge or looping dialogue files,
``--config`` pointed at a device or a pipe, downloads that never end or
unpack to gigabytes, and model names that leave the models folder.

Every refusal is one line that says what is wrong. The programs run as real
child processes (a memory limit makes an unbounded read fail fast instead of
filling the machine); the download tests use a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import resource
import shutil
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from checkin_driver import ROOT
from skill.dialogue import dialog, validate
from skill.speech import models

MEMORY_LIMIT = 2 * 1024**3  # far above what a check-in needs; /dev/zero would pass it


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _run(tmp_path: Path, argv: list[str], stdin: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "AFTERCARE_CONFIG_DIR": str(tmp_path / "cfg"), "AFTERCARE_DATA_DIR": str(tmp_path / "data")}
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *argv], input=stdin, capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=120, preexec_fn=_limit_memory)


def _chain(path: Path, nodes: int, say: str = "step") -> Path:
    lines = ["version: 1", f"flow: {path.stem}", "start: n0", "nodes:"]
    for i in range(nodes - 1):
        lines += [f"  n{i}:", f"    say: {say} {i}", f"    next: n{i + 1}"]
    lines += [f"  n{nodes - 1}:", "    say: bye", "    end: completed"]
    path.write_text("\n".join(lines) + "\n")
    return path


# ---- graph checks are linear ------------------------------------------------------


class _Counting(dict):
    """A graph that counts how often a node's successors are asked for."""

    calls = 0

    def get(self, key, default=None):
        type(self).calls += 1
        return super().get(key, default)


@pytest.mark.parametrize("shape", ["chain", "ring", "rings"])
def test_cycle_search_visits_each_node_a_fixed_number_of_times(shape):
    n = 400
    graph = _Counting({f"n{i:04d}": [f"n{i + 1:04d}"] for i in range(n - 1)})
    graph[f"n{n - 1:04d}"] = []
    if shape == "ring":
        graph[f"n{n - 1:04d}"] = ["n0000"]
    if shape == "rings":  # loops of 4, each with a chord back
        for i in range(3, n, 4):
            graph[f"n{i:04d}"] = [f"n{i - 3:04d}"] + ([f"n{i + 1:04d}"] if i + 1 < n else [])
    _Counting.calls = 0
    cycles = validate._cycles(graph)
    assert _Counting.calls <= 3 * n, f"{_Counting.calls} look-ups for {n} nodes: not linear"
    if shape == "chain":
        assert cycles == []
    elif shape == "ring":
        assert len(cycles) == 1 and len(cycles[0]) == n and cycles[0][0] == "n0000"
    else:
        assert len(cycles) == n // 4 and all(len(c) == 4 for c in cycles)


def test_a_ten_thousand_node_chain_is_refused_in_one_line(tmp_path):
    chain = _chain(tmp_path / "chain.yaml", 10_000)
    done = _run(tmp_path, ["check", str(chain)])
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    [problem] = [line for line in done.stdout.splitlines() if "chain.yaml" in line]
    assert "KB, more than the 256 KB allowed" in problem, problem


def test_too_many_nodes_in_a_small_file_is_refused_in_one_line(tmp_path):
    chain = _chain(tmp_path / "many.yaml", dialog.MAX_FLOW_NODES + 1, say="s")
    assert chain.stat().st_size < dialog.MAX_FILE_BYTES
    done = _run(tmp_path, ["check", str(chain)])
    assert done.returncode == 1
    [problem] = [line for line in done.stdout.splitlines() if "many.yaml" in line]
    assert f"has {dialog.MAX_FLOW_NODES + 1} nodes, more than the {dialog.MAX_FLOW_NODES} allowed" in problem


def test_a_session_with_a_huge_flow_beside_the_real_ones_refuses_to_start(tmp_path):
    dialogs = tmp_path / "dialogs"
    shutil.copytree(ROOT / "dialogs", dialogs, ignore=shutil.ignore_patterns("tests"))
    _chain(dialogs / "chain.yaml", 10_000)
    done = _run(tmp_path, ["--text", "--flow", "quick", "--dialogs", str(dialogs)], stdin="stop\n")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "chain.yaml:1:1: the file is" in done.stderr


def test_a_fifty_megabyte_dialogue_is_refused_before_parsing(tmp_path):
    big = tmp_path / "big.yaml"
    with open(big, "w") as f:
        f.write("version: 1\nflow: big\nnodes:\n")
        line = "  # " + "x" * 1020 + "\n"
        for _ in range(50 * 1024):
            f.write(line)
    done = _run(tmp_path, ["check", str(big)])
    assert done.returncode == 1
    [problem] = [line for line in done.stdout.splitlines() if "big.yaml" in line]
    assert "the file is 51" in problem and "more than the 256 KB allowed" in problem, problem
    assert "alias" not in problem


# ---- --config ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["/dev/zero", "fifo"])
def test_config_that_is_not_a_regular_file_is_refused_in_one_line(tmp_path, kind):
    target = kind
    if kind == "fifo":
        target = str(tmp_path / "config.fifo")
        os.mkfifo(target, 0o600)
    done = _run(tmp_path, ["--text", "--flow", "quick", "--seed", "1", "--config", target], stdin="stop\n")
    assert done.returncode == 0, done.stderr
    problems = [line for line in done.stderr.splitlines() if line.strip()]
    assert problems == [f"{target}: is not a regular file (a pipe or a device?), not a settings file "
                        "(using defaults for every setting)"]


def test_a_config_file_larger_than_the_limit_is_refused(tmp_path):
    big = tmp_path / "config.yaml"
    big.write_text("# padding\n" * 10_000)
    done = _run(tmp_path, ["--text", "--flow", "quick", "--seed", "1", "--config", str(big)], stdin="stop\n")
    assert done.returncode == 0, done.stderr
    assert "KB allowed" in done.stderr and len(done.stderr.strip().splitlines()) == 1


# ---- models download ---------------------------------------------------------------------


def _model_zip(extra: dict[str, bytes] | None = None, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        z.writestr("m/am/final.mdl", os.urandom(2000))
        z.writestr("m/conf/model.conf", "--endpoint.rule2.min-trailing-silence=0.5\n")
        z.writestr("m/graph/HCLG.fst", b"fst")
        z.writestr("m/graph/words.txt", "<eps> 0\nyes 1\n")
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return buf.getvalue()


class _Server:
    """Serves ``body``; with ``length=False`` there is no Content-Length and the
    body is streamed until the client stops reading. Counts what was sent."""

    def __init__(self, body: bytes, length: bool = True, endless: bool = False) -> None:
        self.sent = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200)
                if length:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    while True:
                        for i in range(0, len(body), 65536):
                            self.wfile.write(body[i:i + 65536])
                            outer.sent += len(body[i:i + 65536])
                        if not endless:
                            break
                except OSError:
                    pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/model.zip"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _one_line(error: Exception, *words: str) -> None:
    text = str(error)
    assert "\n" not in text
    for word in words:
        assert word in text, text


def test_a_zip_bomb_with_a_matching_checksum_is_refused(tmp_path):
    bomb = _model_zip({"m/graph/padding.bin": bytes(60 * 1024 * 1024)})  # 60 MB of zeros: ~60 KB packed
    assert len(bomb) < 200_000
    with _Server(bomb) as server:
        with pytest.raises(models.DownloadError) as caught:
            models.download_model(tmp_path, "m", server.url, hashlib.sha256(bomb).hexdigest(), stream=io.StringIO())
    _one_line(caught.value, "would unpack to", "nothing was installed")
    assert list(tmp_path.iterdir()) == []


def test_an_endless_stream_without_content_length_is_stopped_at_the_cap(tmp_path):
    cap = 1_000_000
    with _Server(os.urandom(65536), length=False, endless=True) as server:
        with pytest.raises(models.DownloadError) as caught:
            models.download_model(tmp_path, "m", server.url, "0" * 64, stream=io.StringIO(), max_bytes=cap)
    _one_line(caught.value, "larger than 1.0 MB", "nothing was installed")
    assert list(tmp_path.iterdir()) == []


def test_a_known_model_may_not_be_bigger_than_its_pinned_size(tmp_path, monkeypatch):
    real = _model_zip()
    with _Server(real + bytes(500_000), length=False) as server:
        known = models.KnownModel(url=server.url, sha256=hashlib.sha256(real).hexdigest(), size=len(real))
        monkeypatch.setitem(models.KNOWN_MODELS, "m", known)
        with pytest.raises(models.DownloadError) as caught:
            models.download_model(tmp_path, "m", known.url, known.sha256, known.size, stream=io.StringIO())
    _one_line(caught.value, "larger than", "the size of this model")
    assert list(tmp_path.iterdir()) == []


def test_a_content_length_over_the_cap_is_refused_before_downloading(tmp_path):
    with _Server(os.urandom(3_000_000)) as server:
        with pytest.raises(models.DownloadError) as caught:
            models.download_model(tmp_path, "m", server.url, "0" * 64, stream=io.StringIO(), max_bytes=1_000_000)
        _one_line(caught.value, "larger than 1.0 MB")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["../victimdir", "/abs/path", "..", ".hidden", "a/b", ""])
def test_a_model_name_must_be_a_plain_folder_name(tmp_path, name):
    folder = tmp_path / "models"
    folder.mkdir()
    victim = tmp_path / "victimdir"
    victim.mkdir()
    (victim / "keep").write_text("mine")
    done = _run(tmp_path, ["models", "download", "--name", name, "--url", "http://127.0.0.1:9/x.zip",
                           "--sha256", "0" * 64, "--models-dir", str(folder)])
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "--name must be a plain folder name" in lines[0], done.stderr
    assert list(folder.iterdir()) == []
    assert [p.name for p in victim.iterdir()] == ["keep"]
    assert not Path("/abs/path").exists()
