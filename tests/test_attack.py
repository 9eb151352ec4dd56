import numpy as np
import pytest
import torch

import onepixel as op
from onepixel.errors import InputError, ModelError
from onepixel.models.threads import GovernedThreads
from toys.liars import LyingFastModel
from toys.nets import assert_batch_equals_one_by_one, tiny_net


def test_untargeted_finds_the_planted_pixel(planted, grey_images):
    res = op.attack(planted, grey_images, [0, 0, 0], seed=0)
    for r in res:
        assert r.success and r.predicted_after != 0
        (x, y, *rgb), = r.pixels
        assert (x, y) == (5, 2)
        assert np.linalg.norm(np.array(rgb) - [255, 0, 0]) < 0.1 * 441.7
        assert r.label_prob_after < 0.05 and r.label_prob_before > 0.99
        changed = (r.adversarial != grey_images[0]).any(-1)
        assert changed.sum() == 1 and changed[2, 5]


def test_targeted_reaches_a_reachable_target_and_fails_an_unreachable_one(grey_images):
    from toys.black_boxes import PlantedPixel

    ok = op.attack(PlantedPixel(strong_target=2), grey_images[:2], [0, 0], targets=2, seed=0)
    assert all(r.success and r.predicted_after == 2 and r.target_prob_after > 0.9 for r in ok)
    bad = op.attack(PlantedPixel(strong_target=1), grey_images[:1], [0], targets=2, seed=0, search="de", generations=5)
    assert not bad[0].success and bad[0].target == 2


def test_query_accounting_is_exact(grey_images):
    from toys.black_boxes import PlantedPixel

    model = PlantedPixel(strong_target=1)
    res = op.attack(model, grey_images, [0, 0, 0], targets=2, seed=0, search="de", popsize=20, generations=7)
    assert [r.queries for r in res] == [20 * 8] * 3
    assert [r.generations for r in res] == [7] * 3
    # every row the model saw: clean images + the search queries not answered from memory + the final
    # report of each failure
    assert model.rows == 3 + sum(r.model_queries for r in res) + sum(r.verify_queries for r in res)
    assert all(r.verify_queries == 1 for r in res)
    assert all(0 < r.model_queries <= r.queries for r in res)
    model = PlantedPixel(strong_target=1)
    again = op.attack(model, grey_images, [0, 0, 0], targets=2, seed=0, search="de", popsize=20, generations=7, memo=False)
    assert model.rows == 3 + sum(r.queries for r in again) + 3
    assert [r.model_queries for r in again] == [r.queries for r in again]
    assert [r.pixels for r in again] == [r.pixels for r in res]


def test_max_queries_caps_each_image_exactly(grey_images):
    from toys.black_boxes import PlantedPixel

    res = op.attack(PlantedPixel(strong_target=1), grey_images[:2], [0, 0], targets=2, search="de", popsize=30, max_queries=100)
    assert [r.queries for r in res] == [100, 100]


def test_early_stopping_saves_queries(planted, grey_images):
    res = op.attack(planted, grey_images, [0, 0, 0], seed=0, search="de")
    assert all(r.queries < 400 * 101 and r.queries % 400 == 0 for r in res)
    first = op.attack(planted, grey_images, [0, 0, 0], seed=0, search="de", stop_on_success=True)
    assert all(f.queries <= r.queries for f, r in zip(first, res))


def test_same_seed_same_result_different_seed_differs(planted, grey_images):
    a = op.attack(planted, grey_images, [0, 0, 0], seed=3).to_records()
    b = op.attack(planted, grey_images, [0, 0, 0], seed=3).to_records()
    c = op.attack(planted, grey_images, [0, 0, 0], seed=4).to_records()
    strip = lambda rs: [{k: v for k, v in r.items() if k != "seconds"} for r in rs]  # noqa: E731
    assert strip(a) == strip(b)
    assert strip(a) != strip(c)


@pytest.mark.parametrize("precision,search", [("fp32", "de"), ("bf16", "de"), ("bf16", "rs")])
def test_batch_equals_one_by_one(precision, search):
    clf = op.TorchClassifier(tiny_net(), precision=precision, batch_size=32)
    kw = dict(search="de", popsize=12, generations=6, pixels=2) if search == "de" else dict(search="rs", max_queries=200, pixels=2)
    assert_batch_equals_one_by_one(clf, **kw)


def test_one_image_random_search_pads_its_chunks_to_its_round_not_to_the_batch_size():
    net, seen = tiny_net(), []
    net.register_forward_hook(lambda module, args, out: seen.append(len(args[0])))
    clf = op.TorchClassifier(net, precision="fp32", batch_size=64, delta=False)
    clf.threads = GovernedThreads(1)  # no thread-count check: every forward below is one of the attack's
    img = np.random.default_rng(1).integers(0, 256, (10, 10, 3)).astype(np.uint8)
    label = int(clf.probs(img[None]).argmax())
    seen.clear()
    r = op.attack(clf, img, label, search="rs", max_queries=80, threshold=0.0)[0]  # threshold 0: run the budget
    assert r.queries == 80
    assert seen.count(8) == 10  # ten rounds of 8 proposals, each one chunk of 8 rows
    assert sum(seen) <= 80 + 3 * 64  # plus the clean image and verifications, not 10 chunks of 64


def test_successes_are_verified_in_reference_precision(grey_images):
    res = op.attack(LyingFastModel(), grey_images[:1], [0], search="de", popsize=10, generations=4)
    r = res[0]
    assert not r.success and r.predicted_after == 0
    assert r.queries == 50 and r.verify_queries >= 1


def test_results_table(planted, grey_images):
    res = op.attack(planted, grey_images, [0, 0, 0], seed=0)
    recs = res.to_records()
    assert len(recs) == 3 and "adversarial" not in recs[0] and recs[0]["pixels"][0][:2] == [5, 2]
    df = res.to_pandas()
    assert list(df["success"]) == [True] * 3 and res.success_rate == 1.0
    assert res.adversarials.shape == (3, 8, 8, 3)


def test_an_image_the_model_already_got_wrong_counts_neither_way_in_the_success_rate(planted, grey_images):
    res = op.attack(planted, grey_images, [0, 1, 0], seed=0)  # the model says 0 for image 1
    assert [r.already_adversarial for r in res] == [False, True, False]
    assert res[1].success and res.success_rate == 1.0  # two of two that needed a pixel, not three of three
    assert res.to_pandas()["already_adversarial"].tolist() == [False, True, False]
    targeted = op.attack(planted, grey_images[:2], [0, 1], targets=[1, 0], seed=0, max_queries=64)
    assert [r.already_adversarial for r in targeted] == [False, True]  # the model already says 0 for image 2
    alone = op.attack(planted, grey_images[1:2], [1], seed=0, max_queries=64)
    assert np.isnan(alone.success_rate)


def test_a_device_torch_does_not_know_is_one_clear_error():
    with pytest.raises(InputError, match="'gpu0' is not a device; use cpu, cuda or cuda:N"):
        op.TorchClassifier(tiny_net(), device="gpu0")


def test_greyscale_images(grey_images):
    from toys.black_boxes import PlantedPixel

    model = PlantedPixel(colour=(255,))
    res = op.attack(model, grey_images[:2, :, :, 0], [0, 0], seed=0)
    assert all(r.success and len(r.pixels[0]) == 3 for r in res)


def test_single_image_and_scalar_label(planted, grey_images):
    res = op.attack(planted, grey_images[0], 0, seed=0)
    assert len(res) == 1 and res[0].success


@pytest.mark.parametrize(
    "images,labels,kwargs,match",
    [
        (np.full((2, 8, 8, 3), 2.0, np.float32), [0, 0], {}, r"in \[0, 1\]"),
        (np.zeros((0, 8, 8, 3), np.uint8), [], {}, "empty"),
        (np.zeros((2, 3, 8, 8), np.uint8), [0, 0], {}, "NCHW"),
        (np.zeros((2, 8, 8, 3), np.uint8), [0], {}, "labels for 2 images"),
        (np.zeros((2, 8, 8, 3), np.uint8), [0, 5], {}, "0..2"),
        (np.zeros((2, 8, 8, 3), np.uint8), [0, -1], {}, "0..2"),
        (np.zeros((2, 8, 8, 3), np.uint8), [0, 1], {"targets": [1, 1]}, "equals the true label"),
        (np.zeros((2, 8, 8, 3), np.uint8), [0, 1], {"targets": [2, 7]}, "targets must be class indices"),
        (np.zeros((2, 8, 8, 3), np.uint8), [0, 1], {"pixels": 0}, "pixels must be"),
        (np.zeros((2, 8, 8, 3), np.uint8), [0, 1], {"pixels": 65}, "exceeds"),
        (np.zeros((2, 8, 8, 3), np.uint8), [0.5, 1], {}, "integer class"),
        (np.zeros((2, 8, 8, 3), np.uint8), [0, 1], {"seed": [1]}, "seeds for 2"),
    ],
)
def test_bad_inputs_are_named(planted, images, labels, kwargs, match):
    with pytest.raises(InputError, match=match):
        op.attack(planted, images, labels, search="de", popsize=5, generations=1, **kwargs)


@pytest.mark.parametrize(
    "fn,match",
    [
        (lambda x: np.full((len(x), 3), np.nan), "NaN"),
        (lambda x: np.zeros((len(x) + 1, 3)), "shape"),
        (lambda x: np.zeros(len(x)), "shape"),
        (lambda x: 1 / 0, "ZeroDivisionError"),
    ],
)
def test_bad_models_are_named(grey_images, fn, match):
    with pytest.raises(ModelError, match=match):
        op.attack(fn, grey_images, [0, 0, 0], search="de", popsize=5, generations=1)


def test_cuda_reference_forward_turns_tf32_off_and_restores_the_settings():
    # torch lets cuDNN run "fp32" convolutions in TF32 by default: the verifying reference would round almost
    # like the bf16 search it checks. The switch is plain torch settings, so it is checked here without a GPU.
    from onepixel.models.pytorch import ieee_fp32

    conv, matmul = torch.backends.cudnn.conv, torch.backends.cuda.matmul
    before = conv.fp32_precision, matmul.fp32_precision
    with ieee_fp32(torch.device("cpu")):
        assert (conv.fp32_precision, matmul.fp32_precision) == before  # CPU fp32 is IEEE already
    with pytest.raises(RuntimeError, match="inside"):
        with ieee_fp32(torch.device("cuda")):
            assert conv.fp32_precision == matmul.fp32_precision == "ieee"
            raise RuntimeError("inside")
    assert (conv.fp32_precision, matmul.fp32_precision) == before
