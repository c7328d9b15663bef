"""The two commands a new user types, and what bad input gets."""

import subprocess
import sys

from tests.browser import REPO


def _run(*args, env=None, timeout=180):
    r = subprocess.run([sys.executable, str(REPO / "run.py"), *args], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=timeout)
    r.stderr = " ".join(r.stderr.split())  # the message is one paragraph, wrapped for a terminal
    return r


def test_missing_model_file_exits_2(tmp_path):
    r = _run("--model", str(tmp_path / "nope.keras"))
    assert r.returncode == 2
    assert "No model file at" in r.stderr and "Traceback" not in r.stderr


def test_unreadable_model_file_exits_2(tmp_path):
    bad = tmp_path / "broken.keras"
    bad.write_bytes(b"this is not a keras archive")
    r = _run("--model", str(bad))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "broken.keras" in r.stderr


def test_missing_data_exits_2(tmp_path):
    r = _run("--data", str(tmp_path / "no-such-folder"))
    assert r.returncode == 2 and "no such file or folder" in r.stderr


def test_help_lists_the_flags():
    r = _run("--help")
    assert r.returncode == 0
    for flag in ("--model", "--data", "--host", "--port", "--debug"):
        assert flag in r.stdout
