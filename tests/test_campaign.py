import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from conftest import CIFAR_DIR, needs_shared
from onepixel.campaign import evaluate, load_results, summarize
from onepixel.campaign.metrics import ANY_TARGET, distortion, wilson
from onepixel.campaign.protocol import attacks_per_image, make_units
from onepixel.errors import InputError

pytestmark = needs_shared(CIFAR_DIR)

CMD = [sys.executable, "-m", "onepixel.cli", "evaluate", "-m", "resnet20", "--n", "6", "--search", "de", "--popsize", "12",
       "--generations", "3", "--batch-images", "9", "--protocol", "paper"]


def _rows(folder):
    df = load_results(folder).drop(columns=["seconds", "finished_at"])
    return df.sort_values("uid").reset_index(drop=True)


def _count(db):
    try:
        con = sqlite3.connect(db)
        try:
            return con.execute("select count(*) from attacks").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def test_killed_campaign_resumes_to_the_same_results(tmp_path):
    env = {**os.environ, "ONEPIXEL_DATA": str(CIFAR_DIR)}
    full = tmp_path / "full"
    subprocess.run(CMD + ["--out", str(full)], check=True, env=env, capture_output=True)
    cut = tmp_path / "cut"
    proc = subprocess.Popen(CMD + ["--out", str(cut)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while _count(cut / "results.sqlite") < 10 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = _count(cut / "results.sqlite")
    assert 0 < partial < 54, "the run was not interrupted mid-way"
    subprocess.run(CMD + ["--out", str(cut)], check=True, env=env, capture_output=True)
    a, b = _rows(full), _rows(cut)
    assert len(a) == len(b) == 54
    pd.testing.assert_frame_equal(a, b)


def test_a_worker_keeps_its_live_query_count_for_the_parent(tmp_path, monkeypatch):
    """The parent's bar of a multi-process run reads each worker's queries (attacks in flight included), the total
    it is expected to spend and the most it can still spend; at the end all three are what it spent."""
    monkeypatch.setenv("ONEPIXEL_DATA", str(CIFAR_DIR))
    seen = []

    class Live(list):
        def __setitem__(self, i, v):
            super().__setitem__(i, v)
            seen.append(tuple(self[3:]))

    live = Live([0] * 6)
    evaluate("resnet20", tmp_path / "r", n=6, search="de", popsize=12, generations=3, batch_images=9, protocol="paper",
             progress=False, _shard=(1, 2), _live=(live, 1))
    df = load_results(tmp_path / "r")
    spent = int(df["queries"].sum())
    assert len(df) == 27 and live == [0, 0, 0, spent, spent, spent]
    published = seen[2::3]  # after each complete publication (three writes)
    assert published[0] == (0, 27 * 12 * 4, 27 * 12 * 4)  # before the first round: every attack's whole budget
    queries, expected, most = zip(*published)
    assert list(queries) == sorted(queries) and list(most) == sorted(most, reverse=True)
    assert all(q <= e <= m for q, e, m in published)


def _alive(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return "\nState:\tZ" not in f.read()  # a zombie has exited
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="reads child processes from Linux's /proc")
def test_workers_end_with_a_killed_parent_and_the_run_resumes(tmp_path):
    env = {**os.environ, "ONEPIXEL_DATA": str(CIFAR_DIR)}
    full, cut = tmp_path / "full", tmp_path / "cut"
    subprocess.run(CMD + ["--out", str(full)], check=True, env=env, capture_output=True)
    cmd = CMD[:-4] + ["--batch-images", "1", "--protocol", "paper", "--workers", "2", "--out", str(cut)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while _count(cut / "results.sqlite") < 6 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
        children = [int(c) for c in f.read().split()]
    proc.send_signal(signal.SIGKILL)  # no chance to stop its workers itself
    proc.wait()
    stored = _count(cut / "results.sqlite")
    assert len(children) >= 2 and stored < 54, f"the run was not interrupted mid-way ({children}, {stored} stored)"
    deadline = time.time() + 30
    while any(_alive(c) for c in children) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(_alive(c) for c in children), f"orphaned workers went on attacking ({children})"
    subprocess.run(cmd, check=True, env=env, capture_output=True)
    pd.testing.assert_frame_equal(_rows(full), _rows(cut))


def test_different_config_in_same_folder_is_refused(tmp_path):
    env = {**os.environ, "ONEPIXEL_DATA": str(CIFAR_DIR)}
    small = CMD[:6] + ["--n", "1", "--search", "de", "--popsize", "8", "--generations", "1", "--out", str(tmp_path)]
    subprocess.run(small, check=True, env=env, capture_output=True)
    r = subprocess.run(small[:-2] + ["--seed", "1", "--out", str(tmp_path)], env=env, capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.startswith("error:") and "seed" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def _store_with_one_attack(folder, config):
    from onepixel.campaign.store import ResultStore

    store = ResultStore(folder, config)
    store.add({"uid": "u0", "changes": []})
    store.close()


def test_runs_from_before_a_setting_existed_resume_with_its_implied_value(tmp_path):
    from onepixel.campaign.store import ResultStore

    current = {"model": "allconv", "seed": 0, "space": "input", "input_size": [32, 32]}
    older = {"model": "allconv", "seed": 0}  # written before "space" and "input_size" were recorded
    _store_with_one_attack(tmp_path / "a", older)  # an empty store would simply take the new configuration
    store = ResultStore(tmp_path / "a", current)
    assert store.config == current  # upgraded in place, so later checks compare every setting
    store.close()
    _store_with_one_attack(tmp_path / "b", older)
    with pytest.raises(InputError, match="space"):
        ResultStore(tmp_path / "b", {**current, "space": "file"})


def test_units_of_the_protocols():
    imgs, labels = np.array([5, 9]), np.array([3, 0])
    paper = make_units(imgs, labels, [1, 3], "paper", "both", 10, 0)
    assert len(paper) == 2 * 2 * 9 and all(u.target != u.label for u in paper)
    strict = make_units(imgs, labels, [1], "strict", "untargeted", 10, 0)
    assert [u.target for u in strict] == [None, None]
    both = make_units(imgs, labels, [1], "strict", "both", 10, 0)
    assert len(both) == 2 * 10
    assert len({u.uid for u in paper}) == len(paper)


def test_the_paper_protocol_on_imagenet_is_one_untargeted_attack_per_image():
    units = make_units(np.array([5, 9]), np.array([3, 700]), [1], "paper", "both", 1000, 0)
    assert [(u.image, u.target) for u in units] == [(5, None), (9, None)]


@pytest.mark.parametrize("classes", [10, 1000])
@pytest.mark.parametrize("protocol", ["paper", "strict"])
@pytest.mark.parametrize("mode", ["untargeted", "targeted", "both"])
def test_attacks_per_image_counts_what_make_units_makes(protocol, mode, classes):
    units = make_units(np.array([5, 9, 11]), np.array([3, 0, 7]), [1, 3], protocol, mode, classes, 0)
    assert len(units) == 3 * 2 * attacks_per_image(protocol, mode, classes)


def _hand_made():
    """Two images (labels 0 and 1), 3 classes: image 0 is pushed to both other classes, image 1 to none;
    plus two untargeted attacks, one successful."""
    rows = [
        # uid, image, mode, target, label, success, pred_after, p_pred, p_target, queries, changes
        ("0:1:1", 0, "targeted", 1, 0, True, 1, 0.8, 0.8, 100, [[1, 1, 10, 0, 0, 0, 0, 0]]),
        ("0:1:2", 0, "targeted", 2, 0, True, 2, 0.6, 0.6, 300, [[2, 2, 0, 30, 0, 0, 0, 0]]),
        ("1:1:0", 1, "targeted", 0, 1, False, 1, 0.9, 0.05, 1000, [[0, 0, 0, 0, 0, 0, 0, 0]]),
        ("1:1:2", 1, "targeted", 2, 1, False, 1, 0.9, 0.05, 1000, [[0, 0, 0, 0, 0, 0, 0, 0]]),
        ("0:1:u", 0, "untargeted", None, 0, True, 2, 0.7, None, 50, [[3, 3, 0, 0, 90, 0, 0, 0]]),
        ("1:1:u", 1, "untargeted", None, 1, False, 1, 0.99, None, 2000, [[0, 0, 0, 0, 0, 0, 0, 0]]),
    ]
    cols = ["uid", "image", "mode", "target", "label", "success", "predicted_after", "predicted_prob_after",
            "target_prob_after", "queries", "changes"]
    df = pd.DataFrame(rows, columns=cols)
    df["pixels"], df["seconds"] = 1, 1.0
    return df


def test_metrics_on_hand_made_results():
    m = {x["kind"]: x for x in summarize(_hand_made(), num_classes=3)}
    t, nt, u = m["targeted"], m[ANY_TARGET], m["untargeted"]
    assert (t["successes"], t["n"], t["rate"]) == (2, 4, 0.5)
    assert t["confidence"] == pytest.approx(0.7)
    assert t["pairs"] == [[0, 1, 1], [0, 0, 0], [0, 0, 0]]
    assert (nt["successes"], nt["n"]) == (1, 2)
    assert nt["confidence"] == pytest.approx(0.8)  # the best successful target of image 0
    assert nt["target_classes_hist"] == [1, 0, 1] and nt["target_classes_mean"] == 1.0
    assert t["mean_queries"] == 600 and t["median_queries"] == 650
    assert t["distortion"] == pytest.approx((10 + 0 + 0 + 0 + 30 + 0) / 6)
    assert (u["successes"], u["n"], u["confidence"]) == (1, 2, 0.7)
    assert u["pairs"][0][2] == 1
    assert nt["seconds_per_image"] == 2.0


def test_untargeted_rate_among_correctly_classified_images_is_reported_apart():
    df = _hand_made()
    df["predicted_before"] = df["label"]
    extra = df[df["uid"] == "1:1:u"].assign(uid="2:1:u", image=2, predicted_before=0, success=True, predicted_after=0)
    df = pd.concat([df, extra], ignore_index=True)  # image 2 was misclassified before the attack: "fooled"
    m = {x["kind"]: x for x in summarize(df, num_classes=3)}
    assert (m["untargeted"]["successes"], m["untargeted"]["n"]) == (2, 3)
    c = m["untargeted, correct only"]
    assert (c["successes"], c["n"], c["confidence"]) == (1, 2, 0.7)
    assert "untargeted, correct only" not in {x["kind"] for x in summarize(_hand_made(), num_classes=3)}


def test_wilson_interval_and_distortion():
    lo, hi = wilson(0, 10)
    assert lo == 0 and 0.25 < hi < 0.35
    lo, hi = wilson(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-3) and hi == pytest.approx(0.5962, abs=1e-3)
    assert distortion([[0, 0, 255, 0, 0, 0, 0, 0]]) == pytest.approx(85.0)


def test_load_results_of_a_non_run_folder(tmp_path):
    with pytest.raises(InputError, match="not a run folder"):
        load_results(tmp_path)


def test_evaluate_with_another_search_respects_the_budget(tmp_path, monkeypatch):
    from onepixel.campaign import evaluate

    monkeypatch.setenv("ONEPIXEL_DATA", str(CIFAR_DIR))
    df = evaluate("resnet20", tmp_path, n=3, protocol="strict", mode="untargeted", search="rs", max_queries=50,
                  progress=False)
    assert len(df) == 3 and (df["queries"] <= 50).all()
    assert df.attrs["config"]["search"] == "rs"
    # a success stops that attack at once (other searches than DE stop at the first verified success)
    assert (df.loc[~df["success"], "queries"] == 50).all()


def test_a_model_file_moved_to_another_path_resumes_but_another_file_is_refused(tmp_path):
    from onepixel.campaign.store import ResultStore

    here = {"model": "../shared/models/net.tflite", "model_sha256": "ab" * 32, "seed": 0}
    _store_with_one_attack(tmp_path, here)
    ResultStore(tmp_path, {**here, "model": "/elsewhere/net.tflite"}).close()  # same bytes, another machine
    with pytest.raises(InputError, match="model"):
        ResultStore(tmp_path, {**here, "model": "/elsewhere/net.tflite", "model_sha256": "cd" * 32})


def test_verify_rebuilds_every_attack_and_names_what_differs(tmp_path):
    from onepixel.campaign import evaluate, verify_run

    env = {**os.environ, "ONEPIXEL_DATA": str(CIFAR_DIR)}
    run = tmp_path / "run"
    df = evaluate("resnet20", run, n=4, mode="untargeted", protocol="strict", search="de", popsize=12,
                  generations=4, data_path=CIFAR_DIR, progress=False)
    v = verify_run(run, data_path=CIFAR_DIR)
    assert v.agrees and v.attacks == 4 and v.successes_here == v.stored_successes == int(df.success.sum())
    assert v.max_prob_diff_successes < 1e-5 and v.max_prob_diff_failures < 1e-5  # same machine, same fp32
    verify = [sys.executable, "-m", "onepixel.cli", "verify", str(run)]
    assert subprocess.run(verify, env=env, capture_output=True).returncode == 0
    j = verify_run(run, data_path=CIFAR_DIR, jpeg=95)
    assert j.jpeg_quality == 95 and 0 <= j.jpeg_survivors <= j.successes_here
    assert 0 <= j.jpeg_survivors_correct <= j.correct_successes <= j.successes_here
    assert 0 <= j.jpeg_clean_fooled <= j.successes_here
    r = subprocess.run(verify + ["--jpeg", "95"], env=env, capture_output=True, text=True)
    assert r.returncode == 0 and f"JPEG at quality 95: {j.jpeg_survivors} of {j.successes_here} successes" in r.stdout
    from onepixel.report import write_report

    _, md = write_report([run], tmp_path / "report", gallery=0)  # the report quotes the recorded verification
    assert "onepixel verify re-classified all 4 attacks" in md.read_text() and "every verdict and class agrees" in md.read_text()
    assert f"Saved as a JPEG at quality 95, {j.jpeg_survivors} of {j.successes_here} successes" in md.read_text()
    r = subprocess.run(verify + ["--jpeg", "0"], env=env, capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr

    con = sqlite3.connect(run / "results.sqlite")  # a stored class this model does not give
    uid = con.execute("SELECT uid FROM attacks ORDER BY uid LIMIT 1").fetchone()[0]
    con.execute("UPDATE attacks SET predicted_after = (predicted_after + 1) % 10 WHERE uid = ?", (uid,))
    con.commit()
    r = subprocess.run(verify, env=env, capture_output=True, text=True)
    assert r.returncode == 1 and "1 differ" in r.stdout and uid in r.stdout
    _, md = write_report([run], tmp_path / "report", gallery=0)
    assert "1 differ in class or verdict" in md.read_text() and "JPEG" not in md.read_text()  # the last one counts

    changes = con.execute("SELECT changes FROM attacks WHERE uid = ?", (uid,)).fetchone()[0]
    old = json.loads(changes)
    old[0][-1] = (old[0][-1] + 1) % 256  # the image's own colour no longer matches: other data than the run's
    con.execute("UPDATE attacks SET changes = ? WHERE uid = ?", (json.dumps(old), uid))
    con.commit()
    con.close()
    r = subprocess.run(verify, env=env, capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "--data" in r.stderr
    r = subprocess.run(verify + ["--model", "allconv"], env=env, capture_output=True, text=True)
    assert r.returncode == 2 and "sha256" in r.stderr and "Traceback" not in r.stderr


def test_jpeg_keeps_a_bright_pixel_and_loses_an_exact_colour():
    from onepixel.campaign.verify import succeeds_after_jpeg

    dark = np.full((32, 32, 3), 20, np.uint8)
    white, magenta = dark.copy(), dark.copy()
    white[9, 13] = 255
    magenta[9, 13] = (255, 0, 255)

    def bright(batch):  # class 1 while some pixel is bright: survives JPEG's small luminance error
        hit = np.array([im.mean(-1).max() > 128 for im in batch])
        return np.stack([~hit, hit], 1).astype(float)

    def exact(batch):  # class 1 only for the exact colour: chroma subsampling smears a lone magenta pixel
        hit = np.array([bool((im == (255, 0, 255)).all(-1).any()) for im in batch])
        return np.stack([~hit, hit], 1).astype(float)

    untargeted = pd.DataFrame({"mode": ["untargeted"], "label": [0], "target": [None]})
    targeted = pd.DataFrame({"mode": ["targeted"], "label": [0], "target": [1]})
    assert bright([white])[0, 1] and exact([magenta])[0, 1]  # both fool their model before the re-encode
    assert succeeds_after_jpeg(bright, [white], untargeted, 95).tolist() == [True]
    assert succeeds_after_jpeg(bright, [white], targeted, 95).tolist() == [True]
    assert succeeds_after_jpeg(exact, [magenta], untargeted, 95).tolist() == [False]
    assert succeeds_after_jpeg(exact, [], untargeted.iloc[:0], 95).shape == (0,)
    assert succeeds_after_jpeg(bright, [dark], untargeted, 95).tolist() == [False]  # the clean image's control


def test_fewest_pixels_counts_each_image_at_its_smallest_fooling_count():
    from onepixel.campaign.metrics import fewest_pixels

    rows = []
    # untargeted: image 0 fooled at 1 (and 3), image 1 first at 3, image 2 never, image 3 only attacked at 1
    for img, ok in {0: (1, 1), 1: (0, 1), 2: (0, 0)}.items():
        rows += [dict(image=img, pixels=k, mode="untargeted", target=None, success=bool(s)) for k, s in zip((1, 3), ok)]
    rows.append(dict(image=3, pixels=1, mode="untargeted", target=None, success=True))
    # targeted (3 classes: 2 targets per image): image 5 fooled toward one target at 3 px only;
    # image 6 has an unfinished 3-px attack, so it is left out
    rows += [dict(image=5, pixels=k, mode="targeted", target=t, success=(k == 3 and t == 2)) for k in (1, 3) for t in (1, 2)]
    rows += [dict(image=6, pixels=1, mode="targeted", target=t, success=False) for t in (1, 2)]
    rows.append(dict(image=6, pixels=3, mode="targeted", target=1, success=True))
    out = {m["kind"]: m for m in fewest_pixels(pd.DataFrame(rows), num_classes=3)}
    assert out["untargeted"] == {"kind": "untargeted", "pixels": [1, 3], "images": 3, "fooled_at": [1, 1], "never": 1}
    assert out[ANY_TARGET]["images"] == 1 and out[ANY_TARGET]["fooled_at"] == [0, 1]
    assert fewest_pixels(pd.DataFrame(rows[:2]).assign(pixels=1)) == []  # one count: nothing to say


def test_evaluate_takes_the_loss_of_attack_stores_it_and_refuses_to_resume_with_another(tmp_path, capsys):
    """``--loss`` means the same in both commands: what the search minimises. The campaign runs it (other
    candidates win: other probabilities after), records it, and a resume with another loss is refused."""
    import torch
    from torch import nn

    from onepixel.cli import main

    torch.manual_seed(0)  # a tiny 10-class net on 32x32 images: the paper protocol takes any image
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10)).eval()
    torch.jit.save(torch.jit.script(net), str(tmp_path / "net.pt"))
    common = ["evaluate", "-m", str(tmp_path / "net.pt"), "--n", "1", "--max-queries", "60"]
    assert main([*common, "--out", str(tmp_path / "p")]) == 0
    assert main([*common, "--loss", "margin", "--out", str(tmp_path / "m")]) == 0
    capsys.readouterr()
    p, m = load_results(tmp_path / "p"), load_results(tmp_path / "m")
    assert p.attrs["config"]["loss"] == "probability" and m.attrs["config"]["loss"] == "margin"
    p, m = p.sort_values("uid").reset_index(drop=True), m.sort_values("uid").reset_index(drop=True)
    assert list(p["uid"]) == list(m["uid"]) and len(p) == 9
    assert not np.allclose(p["target_prob_after"], m["target_prob_after"])
    assert main([*common, "--out", str(tmp_path / "m")]) == 2
    assert "loss: 'margin' here vs 'probability' now" in capsys.readouterr().err
    assert main([*common[:-2], "--paper", "--loss", "margin", "--out", str(tmp_path / "x")]) == 2
    assert "drop --loss margin" in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_a_run_of_rs_walking_every_corner_resumes_with_sweep_1_and_is_refused_without(tmp_path, capsys):
    """Runs stored by rs walking every corner change (``sweep`` 1.0: older rs, or ``--sweep 1``) are told apart
    from today's default (0.5) by name, and ``--sweep 1`` resumes them from the command line."""
    import torch
    from torch import nn

    from onepixel.cli import main

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10)).eval()
    torch.jit.save(torch.jit.script(net), str(tmp_path / "net.pt"))
    common = ["evaluate", "-m", str(tmp_path / "net.pt"), "--n", "1", "--max-queries", "40", "--out", str(tmp_path / "r")]
    assert main([*common, "--sweep", "1"]) == 0
    assert load_results(tmp_path / "r").attrs["config"]["search_settings"]["sweep"] == 1.0
    capsys.readouterr()
    assert main(common) == 2
    assert "sweep: 1.0 here vs 0.5 now" in capsys.readouterr().err
    assert main([*common, "--sweep", "1"]) == 0
    assert len(load_results(tmp_path / "r")) == 9  # nothing attacked twice


def test_the_python_campaign_has_the_cli_s_defaults_a_quick_run_with_rs(tmp_path):
    from onepixel.campaign.protocol import quick_images

    df = evaluate("allconv", tmp_path / "r", protocol="strict", mode="untargeted", max_queries=16, progress=False)
    assert df["image"].nunique() == quick_images("strict", "untargeted", "cifar10") == 50
    assert df.attrs["config"]["search"] == "rs" and (df["queries"] <= 16).all()
