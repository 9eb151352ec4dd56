"""Bad input of every kind ends in one line that says what is wrong (exit 2), before any work or any write;
an input file is never overwritten. Each case is a command a careless or hostile user could type."""

import shutil
import sqlite3
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import CIFAR_DIR, SHARED, needs_shared
from onepixel import attack
from onepixel.campaign import evaluate, load_results
from onepixel.cli import main
from onepixel.errors import InputError, ModelError, OnepixelError
from onepixel.inputs import as_seeds, check_outputs, closest
from toys.nets import PlantedRed

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TFLITE_V1 = SHARED / "models" / "imagenet" / "mobilenet_v1_0.25_128_quant.tflite"
# a run small enough to make in seconds: 2 correctly classified images, 1 px untargeted, tiny DE
SMALL = ["evaluate", "-m", "resnet20", "--n", "2", "--search", "de", "--popsize", "12", "--generations", "3", "--mode", "untargeted",
         "--protocol", "strict"]


@pytest.fixture
def files(tmp_path, scripted):
    model, img = scripted
    return {"img": img, "model": model, "tmp": tmp_path}


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A finished two-attack run folder (copied by each test that damages it)."""
    if not CIFAR_DIR.is_dir():
        pytest.skip(f"{CIFAR_DIR} is absent")
    out = tmp_path_factory.mktemp("run") / "run"
    assert main(SMALL + ["--out", str(out)]) == 0
    return out


def _cli(argv, capsys):
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    return code, err


def _one_line(code, err, needle):
    assert code == 2, err
    assert needle in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("argv,needle", [
    # 1: an output path that is the input image is refused (by path; also the figure), before any work
    (["attack", "{img}", "-m", "{model}", "--max-queries", "10", "-o", "{img}"], "would overwrite the input"),
    (["attack", "{img}", "-m", "{model}", "--max-queries", "10", "--figure", "{img}"], "would overwrite the input"),
    (["attack", "{img}", "-m", "{model}", "-o", "{tmp}/a.png", "--figure", "{tmp}/a.png"], "are the same file"),
    # 2: no query cap of 0 or below, no batch of 0 or below
    (["attack", "{img}", "-m", "{model}", "--max-queries", "0"], "'--max-queries': 0 is not in the range x>=1"),
    (["attack", "{img}", "-m", "{model}", "--max-queries", "-5"], "'--max-queries': -5 is not in the range x>=1"),
    (SMALL + ["--out", "{tmp}/r", "--max-queries", "0"], "'--max-queries': 0 is not in the range x>=1"),
    (SMALL + ["--out", "{tmp}/r", "--max-queries", "-5"], "'--max-queries': -5 is not in the range x>=1"),
    (SMALL + ["--out", "{tmp}/r", "--batch-images", "-3"], "batch_images must be >= 1"),
    (SMALL + ["--out", "{tmp}/r", "--batch-images", "0"], "batch_images must be >= 1"),
    # 5: options checked before the store exists
    (SMALL + ["--out", "{tmp}/r", "--popsize", "0"], "popsize must be >= 5"),
    # negative seeds
    (["attack", "{img}", "-m", "{model}", "--seed", "-1"], "--seed must be >= 0"),
    (SMALL + ["--out", "{tmp}/r", "--seed", "-1"], "seed must be >= 0"),
    # a huge --target
    (["attack", "{img}", "-m", "{model}", "--target", "99999999999999999999999"], "out of range"),
    (["attack", "{img}", "-m", "{model}", "--target", "3"], "target 3 is out of range: this model has 3 classes"),
    # an unwritable output is found before the attack
    (["attack", "{img}", "-m", "{model}", "-o", "{img}/sub/adv.png"], "cannot be written"),
    (SMALL + ["--out", "{img}/run"], "cannot be written"),
    (["report", "{run}", "-o", "{img}/report"], "cannot be written"),
    # --paper with a query cap, as evaluate
    (["attack", "{img}", "-m", "{model}", "--paper", "--max-queries", "100"], "no query cap"),
    # a device torch cannot read: a usage error, not a traceback from the model adapter
    (["attack", "{img}", "-m", "{model}", "--device", "gpu0"], "'gpu0' is not a device; use cpu, cuda or cuda:N"),
    (SMALL + ["--out", "{tmp}/r", "--device", "cuda0"], "'cuda0' is not a device"),
    (["verify", "{run}", "--device", "foo"], "'foo' is not a device"),
    (["train", "allconv", "--out", "{tmp}/r", "--device", "foo"], "'foo' is not a device"),
    # training for no epoch, or with no image per step
    (["train", "allconv", "--out", "{tmp}/r", "--epochs", "0"], "'--epochs': 0 is not in the range x>=1"),
    (["train", "allconv", "--out", "{tmp}/r", "--batch-size", "0"], "'--batch-size': 0 is not in the range x>=1"),
])
def test_bad_options_end_in_one_line_before_any_work(files, small_run, argv, needle, capsys):
    before = files["img"].read_bytes()
    argv = [a.format(**files, run=small_run) for a in argv]
    code, err = _cli(argv, capsys)
    _one_line(code, err, needle)
    assert files["img"].read_bytes() == before
    assert not (files["tmp"] / "r" / "results.sqlite").exists()  # a refused start leaves no store behind


def test_train_refused_leaves_no_weights_and_report_of_no_run_makes_no_folder(tmp_path, capsys):
    """A refused start writes nothing: train with 0 epochs leaves no untrained weights behind, and a report of a
    folder that holds no run does not create that folder."""
    code, err = _cli(["train", "allconv", "--out", tmp_path / "t", "--epochs", "0"], capsys)
    _one_line(code, err, "--epochs")
    assert not (tmp_path / "t").exists()
    code, err = _cli(["report", tmp_path / "nosuch"], capsys)
    _one_line(code, err, "is not a run folder (no results.sqlite); create one with `onepixel evaluate --out")
    assert not (tmp_path / "nosuch").exists()


def _damaged(run, tmp_path, sql):
    copy = tmp_path / "damaged"
    shutil.copytree(run, copy)
    with sqlite3.connect(copy / "results.sqlite") as con:
        con.execute(sql)
    con.close()
    return copy


@pytest.mark.parametrize("sql,commands,needle", [
    # 6: rows without their configuration are not adopted under new settings
    ("DELETE FROM meta", [SMALL + ["--seed", "3"]], "no stored configuration"),
    # corrupt configuration
    ("UPDATE meta SET value = '{bad'", [SMALL, ["report"], ["verify"]], "configuration is corrupt"),
    # a corrupt row: evaluate refuses and says how to recover
    ("UPDATE attacks SET changes = '[[1, 2' WHERE rowid = 1", [SMALL], "unreadable row(s), e.g."),
    ("UPDATE attacks SET changes = '[[40, 2, 1, 2, 3, 4, 5, 6]]' WHERE rowid = 1", [SMALL], "outside the 32x32 image"),
])
def test_damaged_stores_are_refused_in_one_line(small_run, tmp_path, sql, commands, needle, capsys):
    run = _damaged(small_run, tmp_path, sql)
    for cmd in commands:
        argv = cmd + ["--out", run] if cmd[0] == "evaluate" else cmd + [run]
        code, err = _cli(argv, capsys)
        _one_line(code, err, needle)


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_a_store_sqlite_cannot_read_is_refused_by_every_command(small_run, tmp_path, damage, capsys):
    run = tmp_path / "bad"
    run.mkdir()
    db = (small_run / "results.sqlite").read_bytes()
    (run / "results.sqlite").write_bytes(db[:3000] if damage == "truncate" else b"not a database at all\n" * 40)
    for argv in (SMALL + ["--out", run], ["report", run], ["verify", run], ["check", run]):
        code, err = _cli(argv, capsys)
        _one_line(code, err, "is not a readable results database")
        assert "Execution failed" not in err and "SELECT" not in err  # no raw pandas / SQL text


def test_corrupt_rows_are_skipped_and_counted_by_report_and_verify(small_run, tmp_path, capsys):
    run = _damaged(small_run, tmp_path, "UPDATE attacks SET changes = 'nonsense' WHERE rowid = 1")
    uid = sqlite3.connect(run / "results.sqlite").execute("SELECT uid FROM attacks WHERE rowid = 1").fetchone()[0]
    df = load_results(run)
    assert len(df) == 1 and [u for u, _ in df.attrs["corrupt"]] == [uid]
    assert main(["report", str(run)]) == 0
    out = capsys.readouterr().out
    assert f"skipped 1 unreadable stored attack(s), e.g. {uid}" in out
    assert f"could not be read and are left out of every number here ({uid}" in (run / "report.md").read_text()
    assert main(["verify", str(run)]) == 0
    out = capsys.readouterr().out
    assert "1 attacks;" in out and f"skipped 1 unreadable stored attack(s): {uid}" in out
    assert main(["check", str(run)]) == 1 and uid in capsys.readouterr().out


def test_a_failed_start_leaves_the_folder_to_the_corrected_command(tmp_path, capsys):
    """5: the corrected command is not refused as a 'different configuration' of a run that never ran."""
    if not CIFAR_DIR.is_dir():
        pytest.skip(f"{CIFAR_DIR} is absent")
    out = tmp_path / "r"
    code, err = _cli(SMALL + ["--out", out, "--popsize", "0"], capsys)
    _one_line(code, err, "popsize")
    # an empty store (an older release stored the config before checking) takes the new configuration
    from onepixel.campaign.store import ResultStore

    ResultStore(out, {"model": "resnet20", "popsize": 0}).close()
    assert main(SMALL + ["--out", str(out)]) == 0, capsys.readouterr().err
    assert len(load_results(out)) == 2


def test_an_unknown_imagenet_target_names_the_closest_few(tmp_path, capsys):
    img = tmp_path / "x.png"
    Image.fromarray(np.full((8, 8, 3), 128, np.uint8)).save(img)
    if not TFLITE_V1.is_file():
        pytest.skip(f"{TFLITE_V1} is absent")
    code, err = _cli(["attack", img, "-m", TFLITE_V1, "--labels", "imagenet", "--target", "zebraa"], capsys)
    _one_line(code, err, "closest: zebra")
    assert len(err) < 400  # not the 1000 names


def test_closest_names():
    assert closest("zebraa", ["tench", "zebra", "goldfish"] * 10).startswith("; closest: zebra")
    assert closest("cat", ["cat", "dog"]) == "; classes: cat, dog"


@needs_shared(CIFAR_DIR)
def test_a_missing_onepixel_data_folder_is_named_not_downloaded(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ONEPIXEL_DATA", str(tmp_path / "nowhere"))
    monkeypatch.setenv("ONEPIXEL_CIFAR10_URL", "http://127.0.0.1:9/none")  # would fail if tried
    code, err = _cli(SMALL + ["--out", tmp_path / "r"], capsys)
    _one_line(code, err, f"ONEPIXEL_DATA={tmp_path / 'nowhere'} is not a folder")


def test_check_outputs_follows_links(tmp_path):
    src = tmp_path / "in.png"
    src.write_bytes(b"x")
    (tmp_path / "link.png").symlink_to(src)
    with pytest.raises(InputError, match="would overwrite the input"):
        check_outputs({"--out": tmp_path / "link.png"}, [src])
    with pytest.raises(InputError, match="would overwrite the input"):
        check_outputs({"--out": tmp_path / "sub" / ".." / "in.png"}, [src])
    check_outputs({"--out": tmp_path / "new" / "adv.png"}, [src])  # creates the folder, writes nothing there
    assert list((tmp_path / "new").iterdir()) == []


# ---- the API ---------------------------------------------------------------------------------------------

def _probs(images):
    return np.tile([0.9, 0.1], (len(images), 1))


@pytest.mark.parametrize("kwargs,needle", [
    ({"seed": -1}, "seed must be >= 0"),
    ({"seed": 1.5}, "seed must be an integer"),
    ({"seed": "abc"}, "seed must be an integer"),
    ({"seed": 2**32 - 1}, "the last image's seed"),  # seed + i overflows numpy's seed range
    ({"model_options": {"bogus": 1}}, "model_options: got an unexpected keyword argument 'bogus'"),
    ({"targets": "dog"}, "targets must be an integer class index"),
    ({"targets": 10**30}, "out of range"),
    ({"max_queries": 0}, "max_queries must be >= 1"),
])
def test_api_arguments_raise_input_errors(kwargs, needle):
    model = kwargs.pop("model", _probs)
    with pytest.raises(InputError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        attack(model, np.zeros((2, 8, 8, 3), np.uint8), [0, 0], max_queries=kwargs.pop("max_queries", 10), **kwargs)


def test_an_image_of_another_size_than_the_model_takes_is_refused():
    """4: a 64x64 image into a 32x32 zoo net would be misclassified before the attack and count as fooled."""
    with pytest.raises(InputError, match="the model takes 32x32 images, got 64x64"):
        attack("allconv", np.zeros((1, 64, 64, 3), np.uint8), [0], max_queries=10)


@pytest.mark.parametrize("fn,needle", [
    (lambda x: np.ones((len(x), 1)), "scores for at least 2"),
    (lambda x: np.tile([5.0, -1.0], (len(x), 1)), "not probabilities"),
])
def test_models_that_can_never_be_fooled_are_refused(fn, needle):
    """7: one class, or scores that are not probabilities, would make every attack fail silently."""
    with pytest.raises(ModelError, match=needle):
        attack(fn, np.zeros((1, 8, 8, 3), np.uint8), [0], max_queries=10)
    # the same scores as logits are fine
    if needle == "not probabilities":
        res = attack(fn, np.zeros((1, 8, 8, 3), np.uint8), [0], max_queries=10, model_options={"output": "logits"})
        assert len(res) == 1


def test_one_hwc_image_with_its_label_in_a_list():
    res = attack(_probs, np.zeros((32, 32, 3), np.uint8), [0], max_queries=5)
    assert len(res) == 1 and res[0].adversarial.shape == (32, 32, 3)


def test_evaluate_api_refuses_bad_settings_before_opening_the_store(tmp_path):
    for kwargs in ({"seed": -1}, {"seed": 1.5}, {"max_queries": 0}, {"batch_images": 0}, {"search": "de", "popsize": 0}, {"n": 0}):
        with pytest.raises(InputError):
            evaluate("resnet20", tmp_path / "r", progress=False, **kwargs)
        assert not (tmp_path / "r" / "results.sqlite").exists()


def test_as_seeds():
    assert as_seeds(3, 2) == [3, 4] and as_seeds([7, 1], 2) == [7, 1]
    for bad in (True, [1, -1], "12", None):
        with pytest.raises(InputError):
            as_seeds(bad, 2)


# ---- what was left out of an image, and noise ------------------------------------------------------------

def test_alpha_and_animation_are_named_not_dropped_silently(tmp_path, capsys):
    from onepixel.imageio import DroppedWarning, read_image

    rgba = tmp_path / "rgba.png"
    Image.fromarray(np.full((8, 8, 4), 100, np.uint8)).save(rgba)
    gif = tmp_path / "anim.gif"
    frames = [Image.fromarray(np.full((8, 8, 3), v, np.uint8)) for v in (0, 255)]
    frames[0].save(gif, save_all=True, append_images=frames[1:])
    with pytest.warns(DroppedWarning, match="alpha channel"):
        assert read_image(rgba).shape == (8, 8, 3)
    with pytest.warns(DroppedWarning, match="2 frames"):
        read_image(gif)
    plain = tmp_path / "rgb.png"
    Image.fromarray(np.full((8, 8, 3), 100, np.uint8)).save(plain)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_image(plain)  # nothing dropped, nothing said
    model = tmp_path / "p.pt"
    torch.jit.script(PlantedRed()).save(str(model))
    assert main(["attack", str(rgba), "-m", str(model), "--max-queries", "3", "--figure", "none",
                 "-o", str(tmp_path / "a.png")]) == 0
    err = capsys.readouterr().err
    assert "note: " in err and "alpha channel; it is dropped" in err


def test_loading_torchscript_does_not_warn_about_grad(tmp_path):
    path = tmp_path / "p.pt"
    torch.jit.script(PlantedRed()).save(str(path))
    from onepixel.models.loading import load_model

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        load_model(str(path), precision="bf16")
        load_model(str(path), precision="fp32")
    assert not [w for w in seen if ".grad attribute" in str(w.message)]


def test_onepixel_errors_are_value_errors():
    assert issubclass(InputError, OnepixelError) and issubclass(OnepixelError, ValueError)


def test_a_split_that_does_not_exist_leaves_no_folder_behind(tmp_path, capsys):
    if not CIFAR_DIR.is_dir():
        pytest.skip(f"{CIFAR_DIR} is absent")
    out = tmp_path / "runs" / "z"
    code, err = _cli(SMALL + ["--split", "validation", "--out", out], capsys)
    assert code == 2 and "validation" in err and "Traceback" not in err, err
    assert not out.exists()  # refused once the folder was held: the lock and the folder it made are gone
    given = tmp_path / "mine"
    given.mkdir()
    _cli(SMALL + ["--split", "validation", "--out", given], capsys)
    assert given.is_dir() and not any(given.iterdir())  # a folder the user made stays, empty as it was
