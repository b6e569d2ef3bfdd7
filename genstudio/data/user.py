"""The user's own data: a folder of images, a .npz/.npy array, or a CSV of 2-D points.

Everything here is input from outside, so it is validated at the boundary:
a file that cannot be used raises :class:`DataError` with one line naming
the file and the fix, and a folder keeps going past files it cannot read,
listing each in ``Dataset.problems`` ("skipped <path>: <reason>").
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from genstudio.data.dataset import DataError, DataOptions, Dataset
from genstudio.data.images import apply_image_options, image_dataset
from genstudio.data.points import points_dataset

_PATH_HINT = "pass --data-path with an image folder, a .npz/.npy file or a .csv file"

# Pillow modes that hold one grey channel (with or without alpha).
_GREY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


def _existing_path(options: DataOptions, dataset_id: str) -> Path:
    if not options.path:
        raise DataError(f"dataset '{dataset_id}' needs a path; {_PATH_HINT}")
    path = Path(options.path).expanduser()
    if not path.exists():
        raise DataError(f"data path '{path}' does not exist; {_PATH_HINT}")
    return path


# --------------------------------------------------------------------------- image folder


def _list_images(root: Path) -> tuple[list[tuple[Path, int]], tuple[str, ...], list[str]]:
    """Candidate files with their labels, the class names, and what was skipped.

    A folder with sub-folders is read as one sub-folder per class (names
    sorted, each searched recursively); files lying beside the class folders
    are then skipped, since they have no class. A folder without sub-folders
    is one unlabelled set. Hidden entries (".DS_Store", ".git") are ignored.
    """
    visible = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    class_dirs = [p for p in visible if p.is_dir()]
    problems: list[str] = []
    if not class_dirs:
        return [(p, -1) for p in visible if p.is_file()], (), problems
    files: list[tuple[Path, int]] = []
    names: list[str] = []
    for p in visible:
        if p.is_file():
            problems.append(f"skipped {p}: not inside a class folder")
    for d in class_dirs:
        members = sorted(
            f for f in d.rglob("*") if f.is_file() and not any(part.startswith(".") for part in f.relative_to(d).parts)
        )
        if not members:
            problems.append(f"skipped {d}: empty class folder")
            continue
        files += [(f, len(names)) for f in members]
        names.append(d.name)
    return files, tuple(names), problems


def _decode(path: Path, size: tuple[int, int], grey: bool) -> tuple[np.ndarray, bool]:
    """One image as uint8 H x W x 3 (or H x W when ``grey``) at ``size`` (H, W), and whether it was grey.

    Transparency is composited on white, the usual paper colour of drawn
    digits and icons; dropping alpha instead would turn transparent pixels
    into whatever colour they happen to store (often black).
    """
    from PIL import Image

    with Image.open(path) as img:
        img.load()  # decode now, so a truncated file fails here and is skipped
        was_grey = img.mode in _GREY_MODES
        if img.mode.startswith("I") or img.mode == "F":
            arr = np.asarray(img, dtype=np.float64)
            # 16-bit greys span 0..65535; other wide modes are taken as 0..1 or 0..255.
            scale = 255.0 / 65535.0 if img.mode.startswith("I;16") else (255.0 if arr.max() <= 1.0 else 1.0)
            img = Image.fromarray(np.clip(np.rint(arr * scale), 0, 255).astype(np.uint8), mode="L")
        if img.mode in ("RGBA", "LA", "La", "PA", "RGBa") or (img.mode == "P" and "transparency" in img.info):
            rgba = img.convert("RGBA")
            img = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
        img = img.convert("L" if grey or was_grey else "RGB")
        img = _cover_and_crop(img, size)
        arr = np.asarray(img, dtype=np.uint8)
    if arr.ndim == 2 and not grey:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    return arr, was_grey


def _cover_and_crop(img, size: tuple[int, int]):
    """Scale so the image covers ``size`` (H, W), then crop the centre: aspect ratio is kept."""
    from PIL import Image

    th, tw = size
    w, h = img.size
    if (h, w) == (th, tw):
        return img
    scale = max(th / h, tw / w)
    nw, nh = max(tw, round(w * scale)), max(th, round(h * scale))
    # Pillow's bilinear resize filters over the whole footprint when shrinking (antialiased).
    img = img.resize((nw, nh), Image.Resampling.BILINEAR)
    left, top = (nw - tw) // 2, (nh - th) // 2
    return img.crop((left, top, left + tw, top + th))


def image_folder(options: DataOptions) -> Dataset:
    """Images from ``options.path``: flat (unlabelled) or one sub-folder per class.

    Size: ``options.image_size`` when set (square); otherwise the most common
    size among the readable images (ties go to the first in sorted order), so
    one odd file does not resize the whole set. Images of another size are
    scaled to cover the target and centre-cropped, which keeps their aspect.
    Channels: 1 when ``options.grayscale`` or when every image is grey (grey
    modes, or RGB with three equal channels), else 3. Unreadable files are
    skipped and listed in ``problems``.
    """
    from PIL import Image, UnidentifiedImageError

    root = _existing_path(options, "folder")
    if not root.is_dir():
        raise DataError(
            f"data path '{root}' is a file, but the 'folder' dataset needs a folder of images; {_PATH_HINT}"
        )
    files, class_names, problems = _list_images(root)

    # Pass 1: read headers only (cheap) to drop non-images and find the common size.
    readable: list[tuple[Path, int]] = []
    sizes: list[tuple[int, int]] = []
    for path, label in files:
        try:
            with Image.open(path) as img:
                w, h = img.size
        except UnidentifiedImageError:
            problems.append(f"skipped {path}: not an image file")
            continue
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            problems.append(f"skipped {path}: cannot open ({e})")
            continue
        readable.append((path, label))
        sizes.append((h, w))
    if not readable:
        raise DataError(f"no readable images in '{root}' ({len(problems)} files skipped); {_PATH_HINT}")
    size = (options.image_size,) * 2 if options.image_size > 0 else Counter(sizes).most_common(1)[0][0]

    # Pass 2: decode, composite, resize; files whose pixel data is corrupt are skipped here.
    arrays: list[np.ndarray] = []
    labels: list[int] = []
    all_grey = True
    for path, label in readable:
        try:
            arr, was_grey = _decode(path, size, options.grayscale)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            problems.append(f"skipped {path}: corrupt image ({e})")
            continue
        arrays.append(arr)
        labels.append(label)
        all_grey = all_grey and (was_grey or arr.ndim == 2 or bool((arr == arr[:, :, :1]).all()))
    if not arrays:
        raise DataError(f"no readable images in '{root}' ({len(problems)} files skipped); {_PATH_HINT}")

    if options.grayscale:
        x = torch.from_numpy(np.stack(arrays)).unsqueeze(1)
    else:
        x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)
        if all_grey:
            x = x[:, :1]
    y = torch.tensor(labels, dtype=torch.int64)
    # A class whose every file was skipped leaves a gap in the labels; keep only classes present.
    if class_names:
        present = sorted(set(labels))
        if len(present) < len(class_names):
            remap = {old: new for new, old in enumerate(present)}
            for old, name in enumerate(class_names):
                if old not in remap:
                    problems.append(f"skipped class '{name}': none of its images could be read")
            y = torch.tensor([remap[v] for v in labels], dtype=torch.int64)
            class_names = tuple(class_names[i] for i in present)
    return image_dataset(x.contiguous(), y, "folder", class_names, problems)


# --------------------------------------------------------------------------- .npz / .npy


_DATA_KEYS = ("images", "points", "audio", "x", "arr_0")
_LABEL_KEYS = ("labels", "y")


def _load_array_file(path: Path) -> tuple[str, np.ndarray, np.ndarray | None, int]:
    """(key, data, labels or None, sample_rate) from a .npz or .npy, never unpickling anything."""
    suffix = path.suffix.lower()
    if suffix not in (".npz", ".npy"):
        raise DataError(f"'{path}' is not a .npz or .npy file; {_PATH_HINT}")
    try:
        loaded = np.load(path, allow_pickle=False)
        if suffix == ".npy" or isinstance(loaded, np.ndarray):
            if not isinstance(loaded, np.ndarray):
                raise DataError(f"'{path}' has a .npy name but holds an .npz archive; rename it to .npz")
            return "x", loaded, None, 0
        with loaded:
            key = next((k for k in _DATA_KEYS if k in loaded.files), None)
            if key is None:
                held = ", ".join(loaded.files) or "nothing"
                raise DataError(f"'{path}' has no array named {', '.join(_DATA_KEYS)} (it holds: {held})")
            data = loaded[key]
            label_key = next((k for k in _LABEL_KEYS if k in loaded.files), None)
            labels = loaded[label_key] if label_key else None
            rate = int(loaded["sample_rate"]) if "sample_rate" in loaded.files else 0
            return key, data, labels, rate
    except DataError:
        raise
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise DataError(
                f"'{path}' holds pickled Python objects, which genstudio does not load for safety "
                "(unpickling can run code); save plain numeric arrays with numpy.savez"
            ) from e
        raise DataError(f"cannot read '{path}': the file is truncated or corrupt ({e})") from e
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise DataError(f"cannot read '{path}': the file is truncated or corrupt ({e})") from e


def _labels(labels: np.ndarray | None, n: int, path: Path) -> np.ndarray | None:
    """Validated int64 labels, or None when absent or all -1 (unlabelled)."""
    if labels is None:
        return None
    labels = np.asarray(labels)
    if labels.shape != (n,):
        raise DataError(f"'{path}': labels have shape {labels.shape} but there are {n} examples; expected ({n},)")
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)) or not np.all(labels == np.round(labels)):
            raise DataError(f"'{path}': labels must be whole numbers")
    elif labels.dtype.kind not in "iub":
        raise DataError(f"'{path}': labels must be integers, not {labels.dtype}")
    labels = labels.astype(np.int64)
    if (labels == -1).all():
        return None
    if (labels < 0).any():
        raise DataError(f"'{path}': labels must be non-negative integers (or all -1 for unlabelled data)")
    return labels


def _to_uint8(images: np.ndarray, path: Path) -> np.ndarray:
    """uint8 images from uint8, bool, integers in 0..255, or floats in [0, 1] (or 0..255)."""
    if images.dtype == np.uint8:
        return images
    if images.dtype == np.bool_:
        return images.astype(np.uint8) * 255
    if images.dtype.kind in "iu":
        lo, hi = int(images.min()), int(images.max())
        if lo < 0 or hi > 255:
            raise DataError(f"'{path}': integer images must lie in 0..255; got {lo}..{hi}")
        return images.astype(np.uint8)
    if images.dtype.kind == "f":
        if not np.all(np.isfinite(images)):
            raise DataError(f"'{path}': images contain NaN or infinite values")
        lo, hi = float(images.min()), float(images.max())
        if lo < 0 or hi > 255:
            raise DataError(f"'{path}': float images must lie in [0, 1] (or 0..255); got [{lo:.3g}, {hi:.3g}]")
        scale = 255.0 if hi <= 1.0 else 1.0  # [0, 1] is the documented form; 0..255 floats are common too
        return np.clip(np.rint(images * scale), 0, 255).astype(np.uint8)
    raise DataError(f"'{path}': images must be numeric, not {images.dtype}")


def _to_nchw(images: np.ndarray, path: Path) -> np.ndarray:
    """N x H x W, N x H x W x C or N x C x H x W (C in 1, 3, 4) to N x C x H x W.

    When both axis 1 and the last axis could be channels, channels-last wins
    (it is what ``genstudio sample`` and most image libraries write) unless
    only channels-first gives square images.
    """
    if images.ndim == 3:
        return images[:, None]
    last, first = images.shape[3] in (1, 3, 4), images.shape[1] in (1, 3, 4)
    if last and first:
        last = not (images.shape[2] == images.shape[3] and images.shape[1] != images.shape[2])
    if last:
        return images.transpose(0, 3, 1, 2)
    if first:
        return images
    raise DataError(
        f"'{path}': cannot tell the channel axis of images shaped {images.shape}; "
        "expected N x H x W, N x H x W x C or N x C x H x W with C in 1, 3, 4"
    )


def array_file(options: DataOptions) -> Dataset:
    """Images, points or audio from a .npz (``images``/``points``/``audio``/``x``/``arr_0``, labels
    under ``labels``/``y``) or a .npy, loaded without pickles.

    N x 2 arrays are points; N x L under the key ``audio`` is audio; 3-D and
    4-D arrays are images (alpha is composited on white, as for folders).
    """
    path = _existing_path(options, "array")
    if path.is_dir():
        raise DataError(
            f"data path '{path}' is a folder, but the 'array' dataset needs a .npz or .npy file; {_PATH_HINT}"
        )
    key, data, raw_labels, rate = _load_array_file(path)
    if data.ndim == 0 or len(data) == 0:
        raise DataError(f"'{path}': the array '{key}' is empty")
    labels = _labels(raw_labels, len(data), path)
    y = torch.from_numpy(labels) if labels is not None else torch.full((len(data),), -1, dtype=torch.int64)

    if key == "audio":
        return _audio_dataset(data, y, rate, path)
    if data.ndim == 2:
        if data.shape[1] != 2:
            raise DataError(
                f"'{path}': a 2-D array must be N x 2 points; got {data.shape} (reshape flat images to N x H x W)"
            )
        if data.dtype.kind not in "iuf":
            raise DataError(f"'{path}': points must be numeric, not {data.dtype}")
        return points_dataset(data, labels, "array")
    if data.ndim not in (3, 4):
        raise DataError(
            f"'{path}': cannot use an array shaped {data.shape}; "
            "expected N x 2 points or N x H x W, N x H x W x C, N x C x H x W images"
        )
    images = _to_nchw(_to_uint8(data, path), path)
    if images.shape[1] == 4:
        rgb, alpha = images[:, :3].astype(np.float32), images[:, 3:].astype(np.float32) / 255.0
        images = np.rint(rgb * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    x = apply_image_options(torch.from_numpy(np.ascontiguousarray(images)), options)
    return image_dataset(x, y, "array")


def _audio_dataset(data: np.ndarray, y: torch.Tensor, rate: int, path: Path) -> Dataset:
    from genstudio.core.data_types import DataInfo

    if data.ndim == 3 and data.shape[1] == 1:
        data = data[:, 0]
    if data.ndim != 2 or data.dtype.kind != "f":
        raise DataError(f"'{path}': audio must be float N x L (or N x 1 x L); got {data.dtype} {data.shape}")
    if not np.all(np.isfinite(data)) or np.abs(data).max() > 1.0:
        raise DataError(f"'{path}': audio samples must be finite and lie in [-1, 1]")
    labelled = bool((y >= 0).all())
    info = DataInfo(
        kind="audio",
        shape=(1, data.shape[1]),
        num_classes=int(y.max()) + 1 if labelled else 0,
        name="array",
        sample_rate=rate or 8000,
    )
    return Dataset(torch.from_numpy(data.astype(np.float32))[:, None], y, info)


# --------------------------------------------------------------------------- CSV points


def _split_row(line: str) -> list[str]:
    """Fields of one CSV line: comma, semicolon or tab separated, else whitespace."""
    for sep in (",", ";", "\t"):
        if sep in line:
            return [f.strip() for f in next(csv.reader(io.StringIO(line), delimiter=sep))]
    return line.split()


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def points_csv(options: DataOptions) -> Dataset:
    """2-D points from a CSV: two numeric columns, an optional header row, an optional label column.

    Labels may be integers (used as they are) or names (sorted, then
    numbered, and kept as class names). A malformed row is an error naming
    its line rather than a silently dropped point.
    """
    path = _existing_path(options, "csv")
    if path.is_dir():
        raise DataError(f"data path '{path}' is a folder, but the 'csv' dataset needs a .csv file; {_PATH_HINT}")
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: drop the BOM spreadsheets write
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read '{path}' as text ({e})") from e

    coords: list[tuple[float, float]] = []
    raw_labels: list[str] = []
    width = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = _split_row(line)
        if width is None and not (len(fields) >= 2 and _is_number(fields[0]) and _is_number(fields[1])):
            width = len(fields)  # the first non-empty row is a header: it fixes the column count
            continue
        if width is None:
            width = len(fields)
        if len(fields) != width or width not in (2, 3):
            raise DataError(
                f"'{path}' line {lineno}: expected {width if width in (2, 3) else '2 or 3'} columns "
                f"(x, y[, label]); got {len(fields)}"
            )
        try:
            coords.append((float(fields[0]), float(fields[1])))
        except ValueError:
            raise DataError(f"'{path}' line {lineno}: expected two numbers, got '{fields[0]}', '{fields[1]}'") from None
        if width == 3:
            raw_labels.append(fields[2])
    if not coords:
        raise DataError(f"'{path}' holds no points; expected rows of x, y[, label]")

    labels = None
    class_names: tuple[str, ...] = ()
    if raw_labels:
        if all(lab.lstrip("-").isdigit() for lab in raw_labels):
            labels = _labels(np.array([int(lab) for lab in raw_labels]), len(coords), path)
        else:
            class_names = tuple(sorted(set(raw_labels)))
            index = {name: i for i, name in enumerate(class_names)}
            labels = np.array([index[lab] for lab in raw_labels], dtype=np.int64)
    return points_dataset(np.array(coords, dtype=np.float64), labels, "csv", class_names)
