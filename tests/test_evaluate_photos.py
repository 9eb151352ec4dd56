"""`evaluate` on full-resolution photos in both attack spaces, with the small real int8 MobileNet."""

import numpy as np
import pytest

from conftest import SHARED, needs_shared
from onepixel.campaign import evaluate, summarize, verify_run
from onepixel.report import write_report

PHOTOS = SHARED / "data" / "imagenet-sample"
MODEL = SHARED / "models" / "imagenet" / "mobilenet_v1_0.25_128_quant.tflite"
pytestmark = [needs_shared(PHOTOS), needs_shared(MODEL)]
pytest.importorskip("ai_edge_litert")


@pytest.mark.parametrize("space", ["input", "file"])
def test_imagenet_sample_both_spaces(tmp_path, space):
    df = evaluate(str(MODEL), tmp_path / space, dataset="imagenet-sample", data_path=PHOTOS, n=2, protocol="paper",
                  search="de", popsize=10, generations=2, space=space, progress=False)
    assert len(df) == 2 and (df["mode"] == "untargeted").all()  # ImageNet: the paper's untargeted protocol
    assert (df["queries"] == 30).all()
    for changes in df["changes"]:
        x, y = changes[0][:2]
        if space == "input":
            assert 0 <= x < 128 and 0 <= y < 128
    if space == "file":
        assert max(c[0][0] for c in df["changes"]) >= 20  # full-photo coordinates, inside the crop box
    m = summarize(df, 1000)
    assert m[0]["kind"] == "untargeted" and m[0]["pairs"] is None
    assert np.isfinite(m[0]["mean_queries"])
    assert df.attrs["config"]["space"] == space
    v = verify_run(tmp_path / space, data_path=PHOTOS, jpeg=95)  # rebuilt here from the stored changes: same classes
    assert v.agrees and v.attacks == 2 and v.max_prob_diff_successes == v.max_prob_diff_failures == 0.0
    assert v.jpeg_quality == 95 and 0 <= v.jpeg_survivors <= v.successes_here
    _, md = write_report([tmp_path / space], tmp_path / "report", gallery=0)
    text = md.read_text()
    assert "Incomplete run" not in text  # 2 photos, one untargeted attack each: complete
    # the section names the attack space, so input- and file-space runs of one model can sit side by side
    # MobileNet is not the paper's AlexNet: no paper figure beside it, and the report says why
    assert "(paper " not in text and "the paper's ImageNet figure is for BVLC AlexNet" in text
    assert f"mobilenet_v1_0.25_128_quant.tflite — paper protocol, {space} space" in text
    assert "one untargeted attack per image" in text and "DE population 10 × 2 generations" in text


@pytest.mark.parametrize("space", ["input", "file"])
def test_strict_protocol_on_photos_keeps_the_photos_the_model_gets_right(tmp_path, space):
    """Strict picks correctly classified photos, each seen as its attack sees it (file space: through the crop +
    resize black box, one photo at a time, since photos differ in size)."""
    from onepixel.data.datasets import load_dataset
    from onepixel.models.loading import load_model
    from onepixel.spaces import default_preprocess, file_crop

    df = evaluate(str(MODEL), tmp_path / space, dataset="imagenet-sample", data_path=PHOTOS, n=3, protocol="strict",
                  mode="untargeted", search="rs", max_queries=8, space=space, progress=False)
    assert len(df) == 3
    clf = load_model(str(MODEL))
    photos = load_dataset("imagenet-sample", "test", PHOTOS, getattr(clf, "class_names", None))
    for i in df["image"]:
        crop = file_crop(clf, photos.images[int(i)], default_preprocess(clf, None))
        assert crop.classifier.probs(crop.region[None]).argmax(1)[0] == photos.labels[int(i)]
