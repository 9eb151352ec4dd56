"""Reading and writing image files as uint8 arrays (PNG, JPEG, WebP; 8-bit greyscale or RGB(A))."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InputError
from .fileio import atomic_path

#: refuse decompression bombs with a clear message instead of PIL's warning
MAX_PIXELS = 100_000_000


def read_image(path: str | Path, mode: str = "RGB") -> np.ndarray:
    """Read an image file as uint8 (H, W, 3) for ``mode="RGB"`` or (H, W, 1) for ``"L"``, honouring EXIF
    orientation. Raises :class:`InputError` naming the problem for anything unreadable or unsupported."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"image file not found: {path}")
    try:
        with Image.open(path) as im:
            if im.width * im.height > MAX_PIXELS:
                raise InputError(f"{path} is {im.width}x{im.height} pixels, above the {MAX_PIXELS:,} limit; downscale it first")
            # PIL opens 16-bit RGB(A) PNGs as 8-bit "RGB" and drops the low byte; only the tile's raw mode tells.
            wide = any(";16" in str(getattr(t, "args", "")) for t in getattr(im, "tile", ()))
            if im.mode in ("I;16", "I;16B", "I;16L", "I", "F") or wide or (im.mode == "RGB" and im.info.get("bits", 8) > 8):
                raise InputError(f"{path} has 16-bit or float pixels (mode {im.mode}{', 16 bits per channel' if wide else ''}); onepixel reads 8-bit images, convert it first")
            if im.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "YCbCr"):
                raise InputError(f"{path} has unsupported pixel mode {im.mode}; use an 8-bit greyscale or RGB image")
            _note_dropped(path, im, mode)
            upright = ImageOps.exif_transpose(im)
            upright.load()
            arr = np.array(upright.convert(mode), dtype=np.uint8)  # a writable copy (torch.from_numpy warns on read-only)
    except InputError:
        raise
    except Image.DecompressionBombError:  # PIL refuses before we can read the size (above ~179 M pixels)
        raise InputError(f"{path} is larger than {MAX_PIXELS:,} pixels (PIL calls it a decompression bomb); downscale it first") from None
    except UnidentifiedImageError:
        raise InputError(f"{path} is not an image file PIL can read (PNG, JPEG, WebP, ...)") from None
    except (OSError, SyntaxError, ValueError) as e:  # truncated or corrupt data
        raise InputError(f"{path} could not be decoded ({e}); the file may be truncated or corrupt") from None
    if arr.ndim == 2:
        arr = arr[..., None]
    if min(arr.shape[:2]) < 2:
        raise InputError(f"{path} is {arr.shape[1]}x{arr.shape[0]} pixels; an image needs at least 2x2")
    return arr


class DroppedWarning(UserWarning):
    """Part of an image file was not used (its alpha channel, its later frames); the CLI prints it as a note."""


def _note_dropped(path: Path, im: Image.Image, mode: str) -> None:
    """Say what reading ``im`` as ``mode`` leaves out, so that an attack on it is not taken for an attack on all of it."""
    frames = getattr(im, "n_frames", 1)
    if frames > 1:
        warnings.warn(f"{path} has {frames} frames (an animation); only the first is used", DroppedWarning, stacklevel=3)
    if "A" in im.mode or (im.mode == "P" and "transparency" in im.info):
        warnings.warn(f"{path} has an alpha channel; it is dropped (transparent pixels keep their stored colour, "
                      "flatten the image onto a background first to choose it)", DroppedWarning, stacklevel=3)


def write_png(path: str | Path, image: np.ndarray) -> Path:
    """Write a uint8 (H, W, C) array as a lossless PNG (parent folders are created)."""
    path = Path(path)
    arr = image[..., 0] if image.shape[-1] == 1 else image
    with atomic_path(path) as tmp:  # whole or not at all (a full disk leaves no 0-byte PNG)
        Image.fromarray(np.ascontiguousarray(arr)).save(tmp, format="PNG")
    return path
