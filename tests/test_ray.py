"""Campaigns on Ray: the same results as one process, through lost nodes and killed drivers.

Marked ``ray`` (skip locally with ``-m "not ray"``). Ray runs here with small memory settings, no dashboard and
one CPU per node, so the tests fit a shared 2-core machine."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pandas as pd
import pytest

from conftest import CIFAR_DIR, SHARED, needs_shared
from onepixel.campaign import evaluate, load_results

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

from onepixel.campaign.ray_actor import load_model_spec  # noqa: E402
from onepixel.campaign.ray_backend import RayOptions  # noqa: E402
from onepixel.errors import OnepixelError  # noqa: E402

pytestmark = [pytest.mark.ray, needs_shared(CIFAR_DIR), pytest.mark.usefixtures("one_torch_thread")]

SMALL = {"object_store_memory": 80 * 2**20, "include_dashboard": False}
# 6 images x 9 targets = 54 attacks; enough generations that a batch of 3 is still running when a node goes
SETTINGS = {"n": 6, "search": "de", "popsize": 12, "generations": 12, "batch_images": 3, "protocol": "paper"}
CMD = [sys.executable, "-m", "onepixel.cli", "evaluate", "-m", "resnet20", "--n", "6", "--search", "de", "--popsize", "12",
       "--generations", "12", "--batch-images", "3", "--protocol", "paper"]


def _rows(folder):
    df = load_results(folder).drop(columns=["seconds", "finished_at"])
    return df.sort_values("uid").reset_index(drop=True)


def _count(folder):
    try:
        con = sqlite3.connect(folder / "results.sqlite")
        try:
            return con.execute("select count(*) from attacks").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def _wait_for(folder, rows, proc, seconds=120):
    deadline = time.time() + seconds
    while _count(folder) < rows and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The campaign run in one process: what every Ray run must store."""
    out = tmp_path_factory.mktemp("one") / "run"
    evaluate("resnet20", out, **SETTINGS, progress=False)
    return _rows(out)


@pytest.fixture(scope="module")
def cluster():
    """Two Ray nodes of one CPU each on this machine (one actor fits on each)."""
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, **SMALL})
    c.add_node(num_cpus=1, object_store_memory=SMALL["object_store_memory"])
    c.wait_for_nodes()
    yield c
    c.shutdown()


def test_a_run_started_locally_finishes_on_two_local_actors_with_the_same_results(tmp_path, reference):
    out = tmp_path / "run"

    def stop_after_first_batch(batches, done):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        evaluate("resnet20", out, **SETTINGS, progress=False, on_batch=stop_after_first_batch)
    assert _count(out) == 3
    df = evaluate("resnet20", out, **SETTINGS, progress=False,
                  ray=RayOptions(actors=2, init_options={"num_cpus": 2, **SMALL}))
    assert not ray.is_initialized(), "the local Ray instance this run started is shut down"
    assert len(df) == 54
    pd.testing.assert_frame_equal(_rows(out), reference)


def test_a_killed_driver_resumes_with_ray_and_then_without(tmp_path, reference, cluster):
    env = {**os.environ, "ONEPIXEL_DATA": str(CIFAR_DIR), "OMP_NUM_THREADS": "1"}
    out = tmp_path / "run"
    on_ray = CMD + ["--out", str(out), "--ray", cluster.address]
    counts = []
    for _ in range(2):  # killed twice on Ray, each time after it stored more
        proc = subprocess.Popen(on_ray, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for(out, (counts[-1] if counts else 0) + 6, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        counts.append(_count(out))
    assert 0 < counts[0] < counts[1] < 54, f"the runs were not interrupted mid-way ({counts})"
    done = subprocess.run(CMD + ["--out", str(out)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    pd.testing.assert_frame_equal(_rows(out), reference)


def test_a_model_file_travels_to_the_actors_as_checked_bytes(tmp_path, cluster):
    """A TFLite file and full-resolution photos (file space): the actor loads the file from the bytes it was
    sent, after checking their sha256, and stores what one process stores."""
    pytest.importorskip("ai_edge_litert")
    model, photos = SHARED / "models" / "imagenet" / "mobilenet_v1_0.25_128_quant.tflite", SHARED / "data" / "imagenet-sample"
    if not model.is_file() or not photos.is_dir():
        pytest.skip(f"{model} or {photos} is absent")
    settings = {"dataset": "imagenet-sample", "data_path": photos, "space": "file", "n": 2, "search": "rs",
                "max_queries": 30, "progress": False}
    evaluate(str(model), tmp_path / "one", **settings)
    evaluate(str(model), tmp_path / "ray", **settings, ray=RayOptions(address=cluster.address, actors=1))
    pd.testing.assert_frame_equal(_rows(tmp_path / "ray"), _rows(tmp_path / "one"))
    spec = {"name": model.name, "sha256": "0" * 64, "bytes": model.read_bytes()}
    with pytest.raises(OnepixelError, match="arrived with sha256"):
        load_model_spec(spec, {})


def test_a_node_lost_mid_run_loses_no_attack_and_stores_none_twice(tmp_path, reference, cluster):
    env = {**os.environ, "ONEPIXEL_DATA": str(CIFAR_DIR), "OMP_NUM_THREADS": "1"}
    out = tmp_path / "run"
    cmd = CMD + ["--out", str(out), "--ray", cluster.address, "--ray-actors", "2"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(out, 6, proc)
    worker = [n for n in cluster.worker_nodes][0]
    cluster.remove_node(worker)  # the actor there dies with the batch it was attacking
    stdout, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 0, stderr[-2000:]
    assert "Ray: an actor was lost" in stderr, "no actor was lost: the node went before or after the run"
    assert "54 attacks" in stdout
    rows = _rows(out)
    assert rows["uid"].is_unique and len(rows) == 54
    pd.testing.assert_frame_equal(rows, reference)


def test_ray_settings_without_ray_and_ray_with_workers_are_one_line_errors(tmp_path, monkeypatch, capsys):
    from onepixel.cli import main

    assert main(["evaluate", "-m", "resnet20", "--ray-gpus", "1", "--out", str(tmp_path / "a")]) == 2
    assert "--ray-gpus only apply on Ray" in capsys.readouterr().err
    assert main(["evaluate", "-m", "resnet20", "--ray", "--workers", "2", "--out", str(tmp_path / "b")]) == 2
    assert "exclude each other" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "ray", None)  # as on an install without the ray extra
    assert main(["evaluate", "-m", "resnet20", "--ray", "--out", str(tmp_path / "c")]) == 2
    assert "pip install 'onepixel[ray]'" in capsys.readouterr().err
    assert not (tmp_path / "c").exists(), "nothing is created before the refusal"
