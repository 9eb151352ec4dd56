import numpy as np
import torch

from onepixel.candidates import Pixels, PixelSpace, apply, decode, encode


def test_decode_always_inside_bounds():
    space = PixelSpace(height=7, width=5, channels=3, pixels=4)
    rng = np.random.default_rng(0)
    cands = rng.normal(0, 1e3, (1000, space.dim))
    p = decode(cands, space)
    assert p.x.shape == (1000, 4) and p.colours.shape == (1000, 4, 3)
    assert p.x.min() >= 0 and p.x.max() <= 4
    assert p.y.min() >= 0 and p.y.max() <= 6
    assert p.colours.dtype == np.uint8


def test_decode_rounds_to_nearest_pixel_and_colour():
    space = PixelSpace(32, 32, 3, 1)
    p = decode(np.array([[3.4, 30.6, 12.5, 254.7, -3.0]]), space)
    assert (p.x[0, 0], p.y[0, 0]) == (3, 31)
    assert p.colours[0, 0].tolist() == [12, 255, 0]  # rint: half to even


def test_paper_initialisation_covers_every_row_and_column_equally():
    space = PixelSpace(4, 4, 3, 1)
    cands = space.sample_paper(np.random.default_rng(1), 40000)
    p = decode(cands, space)
    counts = np.bincount(p.x[:, 0], minlength=4)
    assert counts.min() > 0.9 * 10000 and counts.max() < 1.1 * 10000
    col = cands[:, 2:]
    assert col.min() >= 0 and col.max() <= 255
    assert abs(np.median(col) - 128) < 5


def test_encode_decode_roundtrip():
    space = PixelSpace(10, 12, 1, 3)
    rng = np.random.default_rng(2)
    flat = np.stack([rng.permutation(120)[:3] for _ in range(6)])  # distinct locations (see the next test)
    p = Pixels(flat % 12, flat // 12, rng.integers(0, 256, (6, 3, 1)).astype(np.uint8))
    q = decode(encode(p), space)
    assert (q.x == p.x).all() and (q.y == p.y).all() and (q.colours == p.colours).all()


def test_pixels_on_one_location_all_carry_the_last_colour_so_write_order_does_not_matter():
    space = PixelSpace(8, 8, 3, 3)
    cands = np.array([[1, 2, 10, 10, 10, 5, 5, 20, 20, 20, 1.2, 1.8, 30, 30, 30],  # pixels 0 and 2 meet at (1, 2)
                      [0, 0, 1, 1, 1, 0, 0, 2, 2, 2, 0, 0, 3, 3, 3],  # all three at (0, 0)
                      [0, 0, 1, 1, 1, 1, 0, 2, 2, 2, 2, 0, 3, 3, 3]])  # no two alike
    p = decode(cands, space)
    assert p.colours[0, :, 0].tolist() == [30, 20, 30]
    assert p.colours[1, :, 0].tolist() == [3, 3, 3]
    assert p.colours[2, :, 0].tolist() == [1, 2, 3]
    imgs = torch.zeros(1, 8, 8, 3, dtype=torch.uint8)
    args = [torch.from_numpy(v) for v in (p.x, p.y, p.colours)]
    fwd = apply(imgs, torch.zeros(3, dtype=torch.long), *args)
    rev = apply(imgs, torch.zeros(3, dtype=torch.long), *(a.flip(1) for a in args))  # the other write order
    assert torch.equal(fwd, rev) and int(fwd[0, 2, 1, 0]) == 30 and int(fwd[1, 0, 0, 0]) == 3
    assert p.as_rows((0,)) == [(1, 2, 30, 30, 30), (5, 5, 20, 20, 20)]  # the changed pixels, one per location
    assert p.as_rows((1,)) == [(0, 0, 3, 3, 3)] and len(p.as_rows((2,))) == 3


def test_apply_matches_a_python_loop_for_rgb_and_grey():
    rng = np.random.default_rng(3)
    for c in (3, 1):
        imgs = rng.integers(0, 256, (4, 9, 11, c)).astype(np.uint8)
        which = rng.integers(0, 4, 50)
        x, y = rng.integers(0, 11, (50, 3)), rng.integers(0, 9, (50, 3))
        cols = rng.integers(0, 256, (50, 3, c)).astype(np.uint8)
        out = apply(torch.from_numpy(imgs), torch.from_numpy(which), torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(cols)).numpy()
        for i in range(50):
            ref = imgs[which[i]].copy()
            for j in range(3):
                ref[y[i, j], x[i, j]] = cols[i, j]
            assert (out[i] == ref).all()
        assert (imgs == rng.integers(0, 1, 1) * 0 + imgs).all()  # bases untouched


def test_apply_changes_at_most_k_pixels():
    imgs = torch.zeros(1, 16, 16, 3, dtype=torch.uint8)
    x = torch.tensor([[1, 2, 3, 4, 5]])
    y = torch.tensor([[5, 4, 3, 2, 1]])
    out = apply(imgs, torch.tensor([0]), x, y, torch.full((1, 5, 3), 200, dtype=torch.uint8))
    assert int((out[0] != 0).any(-1).sum()) == 5
