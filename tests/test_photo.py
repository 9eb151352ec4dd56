"""Photo preprocessing (crop + resize as data), the file-space black box, photo files and figures."""

from __future__ import annotations

import io
import json
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from onepixel.candidates import apply
from onepixel.errors import DataError, InputError
from onepixel.imageio import read_image
from onepixel.models.callable import CallableClassifier
from onepixel.photo import PhotoClassifier, PhotoPreprocess, _windows
from onepixel.spaces import attack_photo, jpeg_roundtrip

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _png_bytes(width: int, height: int, depth: int, colour_type: int, raw: bytes) -> bytes:
    """A PNG written by hand (PIL cannot write 16-bit RGB, and a 'huge' header needs no pixel data)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


# --- preprocessing as data -------------------------------------------------------------------------------------

def test_crop_box_keeps_aspect_or_stretches():
    pre = PhotoPreprocess.imagenet(224)
    assert pre.size == (224, 224) and pre.crop == 0.875 and pre.antialias
    assert pre.box(375, 500) == (23, 86, 328, 328)  # 87.5 % of the shorter side, centred
    assert pre.box(500, 375) == (86, 23, 328, 328)
    wide = PhotoPreprocess(size=(100, 200), crop=1.0)
    assert wide.box(300, 300) == (75, 0, 150, 300)  # the largest 1:2 box
    assert PhotoPreprocess(size=(224, 224), aspect="stretch").box(375, 500) == (23, 31, 328, 438)
    # torchvision's "resize 256, crop 224" is the same crop fraction
    tv = PhotoPreprocess(size=(224, 224), crop=224, resize_shorter=256)
    assert tv.fraction == 0.875 and tv.box(375, 500) == pre.box(375, 500)


@pytest.mark.parametrize("kwargs", [dict(crop=0.0), dict(crop=1.5), dict(crop=224), dict(crop=300, resize_shorter=256),
                                    dict(aspect="squash"), dict(size=(0, 10))])
def test_bad_preprocessing_is_refused(kwargs):
    args = {"size": (224, 224), **kwargs}
    with pytest.raises(InputError):
        PhotoPreprocess(**args)


def test_resize_matches_torch_interpolate_and_pil():
    rng = np.random.default_rng(1)
    photo = rng.integers(0, 256, (120, 90, 3), dtype=np.uint8)
    for aa in (True, False):
        pre = PhotoPreprocess(size=(40, 40), crop=0.9, antialias=aa)
        top, left, ch, cw = pre.box(120, 90)
        crop = torch.from_numpy(photo[top:top + ch, left:left + cw]).permute(2, 0, 1)[None].double()
        ref = torch.nn.functional.interpolate(crop, size=(40, 40), mode="bilinear", align_corners=False, antialias=aa)
        got = pre.resize_float(torch.from_numpy(photo[None].copy()))
        assert torch.allclose(got, ref.permute(0, 2, 3, 1), atol=1e-9)
    # antialiased bilinear is PIL's BILINEAR (up to PIL's fixed-point rounding)
    pre = PhotoPreprocess(size=(40, 40), crop=0.9)
    top, left, ch, cw = pre.box(120, 90)
    pil = np.asarray(Image.fromarray(photo).crop((left, top, left + cw, top + ch)).resize((40, 40), Image.BILINEAR))
    assert np.abs(pil.astype(int) - pre(photo).astype(int)).max() <= 1


def test_resize_of_known_values():
    # 4 -> 2 plain bilinear with half-pixel centres averages pixel pairs; a constant photo stays constant
    img = np.arange(16, dtype=np.uint8).reshape(4, 4, 1) * 10
    out = PhotoPreprocess(size=(2, 2), crop=1.0, antialias=False)(img)
    assert out[..., 0].tolist() == [[25, 45], [105, 125]]
    const = np.full((37, 53, 3), 77, np.uint8)
    assert (PhotoPreprocess.imagenet(16)(const) == 77).all()
    ry, rx = PhotoPreprocess.imagenet(16).matrices(37, 53)
    assert torch.allclose(ry.sum(1), torch.ones(16, dtype=torch.float64))
    assert (rx[:, :3] == 0).all()  # columns outside the centre crop have no weight


def test_preprocess_keeps_numpy_or_torch_and_refuses_bad_input():
    pre = PhotoPreprocess.imagenet(8)
    img = np.zeros((20, 30, 3), np.uint8)
    assert isinstance(pre(img), np.ndarray) and pre(img).shape == (8, 8, 3)
    assert isinstance(pre(torch.zeros(2, 20, 30, 3, dtype=torch.uint8)), torch.Tensor)
    with pytest.raises(InputError, match="uint8"):
        pre(np.zeros((20, 30, 3), np.float32))
    with pytest.raises(InputError, match="1x1"):
        pre(np.zeros((1, 1, 3), np.uint8))


# --- the file-space black box --------------------------------------------------------------------------------

def _recording_model(seen: list):
    def fn(images):
        seen.append(images.copy())
        return np.tile([0.5, 0.5], (len(images), 1))
    return CallableClassifier(fn)


@pytest.mark.parametrize("size,shape,aa", [((32, 32), (150, 200), True), ((24, 40), (61, 250), False), ((32, 32), (20, 30), True)])
def test_incremental_file_space_equals_the_full_pipeline(size, shape, aa):
    """Search queries add patches to the resized photo; they must equal perturb-then-resize (bar float ties)."""
    rng = np.random.default_rng(0)
    pre = PhotoPreprocess(size=size, antialias=aa)
    photos = torch.from_numpy(rng.integers(0, 256, (2, *shape, 3), dtype=np.uint8))
    n, k = 200, 3
    which = torch.as_tensor(rng.integers(0, 2, n))
    x, y = torch.as_tensor(rng.integers(0, shape[1], (n, k))), torch.as_tensor(rng.integers(0, shape[0], (n, k)))
    col = torch.as_tensor(rng.integers(0, 256, (n, k, 3)).astype(np.uint8))
    x[:40, 1], y[:40, 1] = x[:40, 0], y[:40, 0]  # coinciding pixels: the later one wins
    x[40:50], y[40:50] = 0, 0  # corners: bands clipped at the border
    x[50:60], y[50:60] = shape[1] - 1, shape[0] - 1
    pc = PhotoClassifier(_recording_model([]), pre)
    ry, rx = pre.matrices(*shape)
    fast = PhotoClassifier._perturbed(photos, pc._resized(photos), _windows(ry), _windows(rx), which, x, y, col)
    full = pre(apply(photos, which, x, y, col))
    diff = (fast.int() - full.int()).abs()
    assert diff.max() <= 1 and (diff > 0).float().mean() < 1e-4  # only exact .5 ties may round apart


def test_region_preprocessing_is_bit_identical_to_the_full_crop():
    """File-space attacks search only the crop box: resizing the cut-out region must give exactly the same
    floats as preprocessing the whole photo."""
    rng = np.random.default_rng(3)
    for pre in (PhotoPreprocess.imagenet(32), PhotoPreprocess(size=(24, 40), aspect="stretch", antialias=False),
                PhotoPreprocess(size=(30, 20), crop=224, resize_shorter=256)):
        for h, w in ((75, 100), (100, 74), (21, 80)):
            photo = torch.from_numpy(rng.integers(0, 256, (1, h, w, 3), dtype=np.uint8))
            top, left, ch, cw = pre.box(h, w)
            region = photo[:, top:top + ch, left:left + cw].contiguous()
            assert torch.equal(pre.resize_float(photo), pre.for_region().resize_float(region))


def test_photo_classifier_queries_and_reference():
    seen: list = []
    pre = PhotoPreprocess.imagenet(16)
    pc = PhotoClassifier(_recording_model(seen), pre)
    assert pc.has_fast_precision and pc.input_size is None  # any photo size; search path is re-verified
    photo = np.random.default_rng(2).integers(0, 256, (1, 50, 70, 3), dtype=np.uint8)
    bases = torch.from_numpy(photo.copy())
    x, y, col = np.array([[10]]), np.array([[20]]), np.array([[[255, 0, 0]]], dtype=np.uint8)
    pc.query(bases, np.array([0]), x, y, col)
    pc.query(bases, np.array([0]), x, y, col, reference=True)
    adv = photo[0].copy()
    adv[20, 10] = (255, 0, 0)
    assert (seen[0][0] == pre(adv)).all() and (seen[1][0] == pre(adv)).all()
    with pytest.raises(InputError, match="model takes"):
        inner = _recording_model([])
        inner.input_size = (8, 8)
        PhotoClassifier(inner, pre)


# --- photo files ----------------------------------------------------------------------------------------------

def test_exif_orientation_is_applied(tmp_path):
    img = np.zeros((20, 40, 3), np.uint8)
    img[:5, :5] = (255, 0, 0)  # red top-left corner of a landscape image
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "rotated.jpg"
    Image.fromarray(img).save(path, quality=100, exif=exif)
    out = read_image(path)
    assert out.shape == (40, 20, 3)  # displayed as portrait
    assert out[:4, -4:, 0].min() > 200 and out[-4:, :4, 0].max() < 60  # the red corner is now top-right


def test_webp_greyscale_and_rgba_photos_read_as_rgb(tmp_path):
    rng = np.random.default_rng(4)
    rgb = rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "p.webp", lossless=True)
    assert (read_image(tmp_path / "p.webp") == rgb).all()
    Image.fromarray(rgb[..., 0], mode="L").save(tmp_path / "g.png")
    grey = read_image(tmp_path / "g.png")
    assert grey.shape == (12, 10, 3) and (grey == rgb[..., :1]).all()
    rgba = np.dstack([rgb, np.full((12, 10), 255, np.uint8)])
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    assert (read_image(tmp_path / "a.png") == rgb).all()


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_bad_photo_files_give_one_line_errors(tmp_path):
    good = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(good, format="JPEG")
    cases = {
        "truncated.jpg": (good.getvalue()[: len(good.getvalue()) // 2], "truncated"),
        "grey16.png": (_png_bytes(4, 4, 16, 0, b"".join(b"\x00" + bytes(8) for _ in range(4))), "16-bit"),
        "rgb16.png": (_png_bytes(4, 4, 16, 2, b"".join(b"\x00" + bytes(24) for _ in range(4))), "16-bit"),
        "huge.png": (_png_bytes(20000, 20000, 8, 2, b""), "100,000,000"),
        "big.png": (_png_bytes(12000, 9000, 8, 2, b""), "100,000,000"),
        "text.jpg": (b"not an image at all", "not an image"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(InputError, match=message) as e:
            read_image(tmp_path / name)
        assert "\n" not in str(e.value)
    Image.new("RGB", (1, 1)).save(tmp_path / "dot.png")
    with pytest.raises(InputError, match="1x1"):
        read_image(tmp_path / "dot.png")


def test_photo_csv_loader(tmp_path):
    from onepixel.data.photos import load_photo_csv

    for i, size in enumerate([(30, 40), (50, 20)]):
        Image.fromarray(np.full((*size, 3), i * 50, np.uint8)).save(tmp_path / f"p{i}.png")
    Image.fromarray(np.full((10, 12), 9, np.uint8), mode="L").save(tmp_path / "grey.png")
    (tmp_path / "labels.csv").write_text("filename,class_index\np0.png,3\np1.png,7\ngrey.png,1\n")
    photos, labels, names = load_photo_csv(tmp_path)
    assert [p.shape for p in photos] == [(30, 40, 3), (50, 20, 3), (10, 12, 3)]
    assert labels.tolist() == [3, 7, 1] and names == ["p0.png", "p1.png", "grey.png"]
    (tmp_path / "labels.csv").write_text("filename,class_index\nmissing.png,3\n")
    with pytest.raises(DataError, match="missing.png"):
        load_photo_csv(tmp_path)
    (tmp_path / "labels.csv").write_text("file,label\np0.png,3\n")
    with pytest.raises(DataError, match="filename,class_index"):
        load_photo_csv(tmp_path)


# --- attacks in both spaces on a planted black box --------------------------------------------------------------

class PlantedModelInput:
    """A 2-class model of 16x16 inputs that flips to class 1 when input pixel (8, 8) turns red (r > g + b)."""

    input_size = (16, 16)

    def __call__(self, images):
        p = images[:, 8, 8, :].astype(float)
        red = 1 / (1 + np.exp(-(p[:, 0] - p[:, 1] - p[:, 2]) / 30))
        return np.stack([1 - red, red], 1)


def _planted():
    clf = CallableClassifier(PlantedModelInput(), num_classes=2)
    clf.input_size = (16, 16)
    return clf


@pytest.mark.parametrize("space", ["input", "file"])
@pytest.mark.parametrize("k", [1, 3])
def test_attack_photo_changes_exactly_k_pixels_and_checks_jpeg(space, k, tmp_path):
    # A photo a little larger than the model input: a file pixel still weighs enough on the planted pixel.
    photo = np.full((20, 27, 3), 100, np.uint8)
    pa = attack_photo(_planted(), photo, 0, space=space, pixels=k, search="de", popsize=100, generations=40, seed=1)
    assert pa.result.success and pa.result.predicted_after == 1
    expected = (16, 16, 3) if space == "input" else photo.shape
    assert pa.adversarial.shape == expected
    # the PNG as written and read back differs from the attacked image in exactly the changed pixels (<= k,
    # == k unless the search put two pixels on one spot), and classifies as reported
    from onepixel.imageio import write_png

    png = read_image(write_png(tmp_path / "adv.png", pa.adversarial))
    changed = (png != pa.original).any(-1)
    assert changed.sum() == len({(p[0], p[1]) for p in pa.result.pixels}) <= k
    assert pa.changed_pixels() == changed.sum()
    if space == "file":  # pixels are reported in full-photo coordinates, inside the crop box
        top, left, ch, cw = PhotoPreprocess.imagenet(16).box(*photo.shape[:2])
        assert all(left <= p[0] < left + cw and top <= p[1] < top + ch for p in pa.result.pixels)
        assert all(tuple(png[p[1], p[0]]) == tuple(p[2:]) for p in pa.result.pixels)
    rec = pa.to_dict()
    assert rec["space"] == space and rec["jpeg"]["quality"] == 95 and len(rec["top5_before"]) == 2
    assert rec["top5_after"][0][0] == 1
    json.dumps(rec)  # plain Python all the way down
    # the JPEG check classifies the re-encoded adversarial image through the same black box
    jpeg = jpeg_roundtrip(pa.adversarial, 95)
    small = jpeg if space == "input" else PhotoPreprocess.imagenet(16)(jpeg)
    assert pa.jpeg_predicted == int(PlantedModelInput()(small[None])[0].argmax())
    assert pa.jpeg_survives == (pa.jpeg_predicted == 1)


def test_attack_photo_refuses_bad_space():
    with pytest.raises(InputError, match="space"):
        attack_photo(_planted(), np.zeros((16, 16, 3), np.uint8), 0, space="pixels")


def test_figure_is_written(tmp_path):
    from onepixel.figure import before_after, changed_pixels

    a = np.zeros((30, 40, 3), np.uint8)
    b = a.copy()
    b[5, 7] = 255
    path = before_after(a, b, tmp_path / "fig.png", titles=("a", "b"))
    assert changed_pixels(a, b) == [(7, 5)]
    with Image.open(path) as im:
        assert im.format == "PNG" and im.width > 400
