"""The offline guard: network use during a session is recorded and refused.

The whole-session proof with each real backend (PocketSphinx, and Vosk with
the Korean model) runs the real CLI through the sound server in
test_voice_e2e.py; here the guard itself is shown to catch what it must, so
an empty record there means something.
"""

from __future__ import annotations

import socket
import threading
import urllib.request

import pytest

from skill.shell import offline


@pytest.fixture()
def local_server():
    """A TCP listener on 127.0.0.1 that the guarded code will try to reach."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    yield srv.getsockname()
    srv.close()


def test_connect_is_refused_and_recorded_inside_a_session(local_server):
    with offline.session_guard() as guard:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        with pytest.raises(offline.OfflineViolation):
            sock.connect(local_server)
        sock.close()
        assert any("socket.connect" in a for a in guard.attempts)
    # outside the session the same connection works
    socket.create_connection(local_server, timeout=2).close()


def test_name_lookup_is_refused():
    with offline.session_guard() as guard:
        with pytest.raises(offline.OfflineViolation):
            socket.getaddrinfo("example.org", 443)
    assert any("getaddrinfo" in a for a in guard.attempts)


def test_http_client_cannot_reach_out(local_server):
    host, port = local_server
    with offline.session_guard():
        with pytest.raises(Exception) as info:
            urllib.request.urlopen(f"http://{host}:{port}/", timeout=2)
    assert "network use is not allowed" in str(info.value)


def test_attempts_in_other_threads_are_caught_too(local_server):
    errors: list[BaseException] = []

    def worker():
        try:
            socket.create_connection(local_server, timeout=2)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    with offline.session_guard() as guard:
        t = threading.Thread(target=worker)
        t.start()
        t.join(5)
    assert errors and isinstance(errors[0], offline.OfflineViolation)
    assert guard.attempts


def test_local_unix_sockets_are_allowed():
    a, b = socket.socketpair()
    with offline.session_guard() as guard:
        a.sendall(b"x")
        assert b.recv(1) == b"x"
    a.close()
    b.close()
    assert guard.attempts == []


def test_a_clean_session_reports_zero_and_each_session_starts_fresh(local_server):
    with offline.session_guard():
        with pytest.raises(offline.OfflineViolation):
            socket.create_connection(local_server, timeout=2)
    with offline.session_guard():
        pass
    assert offline.report() == {"event": "offline", "network_attempts": 0, "blocked": [],
                                "local": []}


def test_binding_loopback_is_local_binding_any_address_is_blocked():
    with offline.session_guard() as guard:
        probe = socket.socket(socket.AF_INET6)  # what urllib3 does when imported
        probe.bind(("::1", 0))
        probe.close()
        wide = socket.socket(socket.AF_INET)
        with pytest.raises(offline.OfflineViolation):
            wide.bind(("0.0.0.0", 0))
        wide.close()
    assert guard.local == ["socket.bind ('::1', 0)"]
    assert guard.attempts == ["socket.bind ('0.0.0.0', 0)"]


def test_importing_vosk_inside_a_session_is_not_network_use():
    import subprocess
    import sys
    code = ("from skill.shell import offline\n"
            "with offline.session_guard():\n"
            "    import vosk\n"
            "print(offline.report())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=str(__import__('pathlib').Path(__file__).parents[1]))
    assert out.returncode == 0, out.stderr
    assert "'network_attempts': 0" in out.stdout, out.stdout


def test_report_names_what_was_blocked(local_server):
    with offline.session_guard():
        with pytest.raises(offline.OfflineViolation):
            socket.create_connection(local_server, timeout=2)
    rec = offline.report()
    assert rec["network_attempts"] >= 1 and "127.0.0.1" in " ".join(rec["blocked"])


def test_voice_loop_runs_every_session_under_the_guard(monkeypatch):
    """run() wraps the session in the guard (a session that tries to connect is caught)."""
    from skill.settings import Settings
    from skill.shell import voice_loop

    seen = {}

    def fake_session(settings, bundle, events):
        seen["active"] = offline._guard.active
        try:
            socket.getaddrinfo("example.org", 80)
        except offline.OfflineViolation:
            seen["blocked"] = True
        return 0

    monkeypatch.setattr(voice_loop, "_run_session", fake_session)
    records = []

    class Log:
        def write(self, rec):
            records.append(rec)

    assert voice_loop.run(Settings(), bundle=None, events=Log()) == 0
    assert seen == {"active": True, "blocked": True}
    assert records[-1]["event"] == "offline" and records[-1]["network_attempts"] == 1
    assert offline._guard.active is False


def test_text_mode_sessions_are_guarded_too(monkeypatch, tmp_path):
    from skill.shell import cli, textmode

    monkeypatch.setenv("AFTERCARE_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("AFTERCARE_DATA_DIR", str(tmp_path / "data"))
    seen = {}

    def fake_run(settings, bundle):
        seen["active"] = offline._guard.active
        return 0

    monkeypatch.setattr(textmode, "run", fake_run)
    assert cli.main(["--text", "--flow", "quick"]) == 0
    assert seen == {"active": True}
    assert offline._guard.active is False
