"""Fault injection: a full disk, a read-only store, a corrupt row, a killed worker, two writers at once.

Each fault ends the command with one clear line (exit 2, no traceback), keeps every attack stored before it,
and the store then resumes to exactly the results of an uninterrupted run.
"""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import CIFAR_DIR, needs_shared
from onepixel.campaign import load_results, store
from onepixel.cli import main

pytestmark = [needs_shared(CIFAR_DIR), pytest.mark.usefixtures("one_torch_thread")]

# 4 correctly classified images x 2 pixel counts, untargeted: 8 attacks in batches of 2, seconds in all
ARGS = ["evaluate", "-m", "resnet20", "--n", "4", "-k", "1", "-k", "2", "--search", "de", "--popsize", "12", "--generations", "3",
        "--mode", "untargeted", "--protocol", "strict", "--batch-images", "2"]
TOTAL = 8


def _rows(folder):
    df = load_results(folder).drop(columns=["seconds", "finished_at"])
    return df.sort_values("uid").reset_index(drop=True)


def _count(folder):
    try:
        con = sqlite3.connect(Path(folder) / "results.sqlite")
        try:
            return con.execute("SELECT COUNT(*) FROM attacks").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("full") / "run"
    assert main(ARGS + ["--out", str(out)]) == 0
    rows = _rows(out)
    assert len(rows) == TOTAL
    return rows


def _fails_in_one_line(argv, capsys, needle):
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert err and needle in err[-1] and err[-1].startswith("error:"), err
    assert not any("Traceback" in line for line in err)
    return err[-1]


def _resumes_to(out, uninterrupted, capsys):
    assert main(ARGS + ["--out", str(out)]) == 0, capsys.readouterr().err
    pd.testing.assert_frame_equal(_rows(out), uninterrupted)


def _fail_after(monkeypatch, rows, error):
    """Make SQLite refuse to store more than ``rows`` attacks, as a full disk or a read-only store would: the
    store's own connection raises ``error`` on the next insert."""
    stored = {"n": 0}

    class Failing(sqlite3.Connection):
        def execute(self, sql, *args):
            if sql.startswith("INSERT OR REPLACE INTO attacks"):
                if stored["n"] >= rows:
                    raise error
                stored["n"] += 1
            return super().execute(sql, *args)

    monkeypatch.setattr(store, "_connect", lambda path: sqlite3.connect(path, timeout=60, factory=Failing))


@pytest.mark.parametrize("error,needle", [
    (sqlite3.OperationalError("database or disk is full"), "is full; the 3 attacks stored so far are kept"),
    (OSError(28, "No space left on device"), "is full; the 3 attacks stored so far are kept"),
    (sqlite3.OperationalError("attempt to write a readonly database"), "is read-only"),
])
def test_a_store_that_stops_taking_writes(tmp_path, monkeypatch, capsys, uninterrupted, error, needle):
    out = tmp_path / "run"
    with monkeypatch.context() as m:
        _fail_after(m, 3, error)
        _fails_in_one_line(ARGS + ["--out", out], capsys, needle)
    assert _count(out) == 3
    _resumes_to(out, uninterrupted, capsys)


def test_a_read_only_database_file(tmp_path, monkeypatch, capsys, uninterrupted):
    """The real SQLite error, not an injected one: the store opened read-only (as on a read-only mount)."""
    out = tmp_path / "run"
    with monkeypatch.context() as m:
        _fail_after(m, 3, sqlite3.OperationalError("stop"))
        _fails_in_one_line(ARGS + ["--out", out], capsys, "failed")
    with monkeypatch.context() as m:
        m.setattr(store, "_connect", lambda path: sqlite3.connect(f"file:{path}?mode=ro", uri=True))
        _fails_in_one_line(ARGS + ["--out", out], capsys, "is read-only")
    assert _count(out) == 3
    assert main(["report", str(out)]) == 0  # reading still works
    capsys.readouterr()
    _resumes_to(out, uninterrupted, capsys)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes to read-only folders")
def test_a_read_only_run_folder(tmp_path, capsys, uninterrupted):
    out = tmp_path / "run"
    _resumes_to(out, uninterrupted, capsys)
    os.chmod(out, 0o555)
    try:
        _fails_in_one_line(ARGS + ["--out", out], capsys, "cannot be written")
        assert main(["report", str(out), "-o", str(tmp_path / "rep")]) == 0
    finally:
        os.chmod(out, 0o755)


def test_a_full_disk_leaves_no_empty_outputs(tmp_path, monkeypatch, capsys, uninterrupted):
    """verification.json, summary.json and PNGs are written whole or not at all."""
    out = tmp_path / "run"
    _resumes_to(out, uninterrupted, capsys)
    capsys.readouterr()
    (out / "verification.json").write_text('{"old": 1}')

    def full(self, *a, **k):
        raise OSError(28, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_text", full)
    _fails_in_one_line(["verify", out], capsys, "No space left on device")
    monkeypatch.undo()
    assert (out / "verification.json").read_text() == '{"old": 1}'
    assert not [p for p in out.iterdir() if p.name.startswith(".")and p.suffix != ".lock"]  # no temp file left

    from PIL import Image

    from onepixel.imageio import write_png

    monkeypatch.setattr(Image.Image, "save", lambda self, fp, *a, **k: Path(fp).write_bytes(b"") or full(fp))
    with pytest.raises(OSError):
        write_png(tmp_path / "adv.png", np.zeros((4, 4, 3), np.uint8))
    assert not (tmp_path / "adv.png").exists() and not list(tmp_path.glob(".adv*"))


def test_a_corrupt_row_is_refused_then_repaired_and_attacked_again(tmp_path, capsys, uninterrupted):
    out = tmp_path / "run"
    _resumes_to(out, uninterrupted, capsys)
    with sqlite3.connect(out / "results.sqlite") as con:
        uid = con.execute("SELECT uid FROM attacks ORDER BY uid LIMIT 1").fetchone()[0]
        con.execute("UPDATE attacks SET changes = '[[1, 2' WHERE uid = ?", (uid,))
    con.close()
    line = _fails_in_one_line(ARGS + ["--out", out], capsys, f"1 unreadable row(s), e.g. {uid}")
    assert f"onepixel check {out} --repair" in line
    assert main(["check", str(out), "--repair"]) == 0
    assert "removed 1 unreadable attack(s)" in capsys.readouterr().out
    assert _count(out) == TOTAL - 1 and (out / "results.sqlite.bak-1").is_file()
    _resumes_to(out, uninterrupted, capsys)


def _children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except FileNotFoundError:
        return []


def _cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="reads child processes from Linux's /proc")
def test_a_killed_worker_is_named_and_the_run_resumes(tmp_path, capsys, uninterrupted):
    out = tmp_path / "run"
    env = {**os.environ, "ONEPIXEL_DATA": str(CIFAR_DIR)}
    cmd = [sys.executable, "-m", "onepixel.cli", *ARGS[:-1], "1", "--workers", "2", "--out", str(out)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 600
    workers = []
    while not (workers and _count(out) >= 1) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
        workers = [c for c in _children(proc.pid) if b"spawn_main" in _cmdline(c)]
    assert proc.poll() is None and workers, "the run ended before a worker could be killed"
    os.kill(workers[-1], signal.SIGKILL)
    _, err = proc.communicate(timeout=900)
    # (multiprocessing's resource tracker may add its own warning about the killed process's semaphores)
    errors = [line for line in err.replace("\r", "\n").splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and len(errors) == 1, err
    assert "was killed by SIGKILL" in errors[0] and "re-run the same command" in errors[0], err
    assert "Traceback" not in err and "their messages are above" not in err
    assert _count(out) < TOTAL
    _resumes_to(out, uninterrupted, capsys)


def test_a_second_evaluate_into_the_same_folder_is_refused_while_the_first_runs(tmp_path, capsys, uninterrupted):
    out = tmp_path / "run"
    env = {**os.environ, "ONEPIXEL_DATA": str(CIFAR_DIR)}
    cmd = [sys.executable, "-m", "onepixel.cli", *ARGS[:-1], "1", "--out", str(out)]
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while _count(out) < 1 and time.time() < deadline and first.poll() is None:
        time.sleep(0.02)
    assert first.poll() is None, "the first run ended before the second started"
    # the second (here, in this process: it reaches the lock in milliseconds) neither waits nor repeats work
    _fails_in_one_line(ARGS + ["--out", out], capsys, f"another onepixel evaluate (pid {first.pid}) is writing to {out}")
    assert first.wait(timeout=900) == 0
    pd.testing.assert_frame_equal(_rows(out), uninterrupted)
    _resumes_to(out, uninterrupted, capsys)  # the lock went with the first process
