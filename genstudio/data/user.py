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
from genstudio.data.image_decode import DECODE_ERRORS, Unusable, bomb_reason, decode_image
from genstudio.data.images import apply_image_options, image_dataset
from genstudio.data.points import points_dataset

# Worded for the studio and the command line alike (``data.path`` is the setting's name in
# both); DataError.option = "path" lets each front end point at its own control for it.
_PATH_HINT = "set the data path (data.path) to an image folder, a .npz/.npy file or a .csv file"

# With image_size 0 the images keep their own size, but no side beyond this (the
# image_size option's own maximum): a folder of 6000 x 6000 photos would otherwise
# build a model for 36-megapixel inputs.
MAX_AUTO_SIDE = 512

# Most classes a label array may number (labels 0..MAX_CLASSES-1): a conditional
# model builds one embedding row per class, so a stray label of 10**9 must be an
# error, not a 10**9-row embedding.
MAX_CLASSES = 10_000

# Largest magnitude a coordinate may have: points are trained as float32, where more is inf.
_F32_MAX = float(np.finfo(np.float32).max)


def _path_error(message: str) -> DataError:
    return DataError(f"{message}; {_PATH_HINT}", option="path")


def _existing_path(options: DataOptions, dataset_id: str) -> Path:
    if not options.path:
        raise _path_error(f"dataset '{dataset_id}' needs a path")
    path = Path(options.path).expanduser()
    if not path.exists():
        raise _path_error(f"data path '{path}' does not exist")
    return path


# --------------------------------------------------------------------------- image folder


def _list_images(root: Path) -> tuple[list[tuple[Path, int]], tuple[str, ...], list[str]]:
    """Candidate files with their labels, the class names, and what was skipped.

    A folder with sub-folders is read as one sub-folder per class (names
    sorted, each searched recursively); files lying beside the class folders
    are then skipped, since they have no class. A folder without sub-folders
    is one unlabelled set. Hidden entries (".DS_Store", ".git") are ignored.
    """
    try:
        visible = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    except OSError as e:
        raise _path_error(f"cannot list the folder '{root}' ({e.strerror or e})") from e
    class_dirs = [p for p in visible if p.is_dir()]
    problems: list[str] = []
    # A link whose target is gone is neither file nor folder: say so rather than drop it unseen.
    problems += [f"skipped {p}: broken link" for p in visible if p.is_symlink() and not p.exists()]
    if not class_dirs:
        return [(p, -1) for p in visible if p.is_file()], (), problems
    files: list[tuple[Path, int]] = []
    names: list[str] = []
    for p in visible:
        if p.is_file():
            problems.append(f"skipped {p}: not inside a class folder")
    for d in class_dirs:
        try:
            members = sorted(
                f for f in d.rglob("*") if f.is_file() and not any(part.startswith(".") for part in f.relative_to(d).parts)
            )
        except OSError as e:
            problems.append(f"skipped {d}: cannot list it ({e.strerror or e})")
            continue
        if not members:
            problems.append(f"skipped {d}: empty class folder")
            continue
        files += [(f, len(names)) for f in members]
        names.append(d.name)
    return files, tuple(names), problems


def _target_size(sizes: list[tuple[int, int]], image_size: int) -> tuple[int, int]:
    """(H, W) every image is brought to: ``image_size`` squared when set, else the most common size.

    Ties go to the smaller size (shrinking loses less than blowing up a
    thumbnail, and costs less memory); a long side over :data:`MAX_AUTO_SIDE`
    is scaled down to it, keeping the aspect ratio.
    """
    if image_size > 0:
        return image_size, image_size
    counts = Counter(sizes)
    h, w = min(counts, key=lambda hw: (-counts[hw], hw[0] * hw[1], hw))
    if max(h, w) > MAX_AUTO_SIDE:
        scale = MAX_AUTO_SIDE / max(h, w)
        h, w = max(1, round(h * scale)), max(1, round(w * scale))
    return h, w


def _no_images(root: Path, problems: list[str]) -> DataError:
    first = f"; first: {problems[0]}" if problems else ""
    err = _path_error(f"no usable images in '{root}' ({len(problems)} files skipped{first})")
    err.problems = list(problems)  # each skipped file with its reason, for the studio's Data panel to list
    return err


def image_folder(options: DataOptions) -> Dataset:
    """Images from ``options.path``: flat (unlabelled) or one sub-folder per class.

    Size: ``options.image_size`` when set (square); otherwise the most common
    size among the readable images (see :func:`_target_size`), so one odd
    file does not resize the whole set. Images of another size are scaled to
    cover the target and centre-cropped, which keeps their aspect.
    Channels: 1 when ``options.grayscale`` or when every image is grey (grey
    modes, or RGB with three equal channels), else 3. Files that cannot be
    used (not images, empty, truncated, over Pillow's decompression-bomb
    limit, pixel values with no known scale) are skipped, each listed in
    ``problems`` with its reason; a folder with none left is a DataError.
    """
    from PIL import Image, UnidentifiedImageError

    root = _existing_path(options, "folder")
    if not root.is_dir():
        raise _path_error(f"data path '{root}' is a file, but the 'folder' dataset needs a folder of images")
    files, class_names, problems = _list_images(root)
    limit = Image.MAX_IMAGE_PIXELS

    # Pass 1: read headers only (cheap) to drop non-images and find the common size.
    readable: list[tuple[Path, int]] = []
    sizes: list[tuple[int, int]] = []
    for path, label in files:
        try:
            if path.stat().st_size == 0:
                problems.append(f"skipped {path}: empty file (0 bytes)")
                continue
            with Image.open(path) as img:
                w, h = img.size
        except UnidentifiedImageError:
            problems.append(f"skipped {path}: not an image file")
            continue
        except Image.DecompressionBombError:
            problems.append(f"skipped {path}: {bomb_reason(None, limit or 0)}")
            continue
        except DECODE_ERRORS as e:
            problems.append(f"skipped {path}: cannot open ({e})")
            continue
        if limit and w * h > limit:  # Pillow only warns up to twice its limit; skip those too
            problems.append(f"skipped {path}: {bomb_reason(w * h, limit)}")
            continue
        if w < 1 or h < 1:
            problems.append(f"skipped {path}: the image is {w} x {h} pixels")
            continue
        readable.append((path, label))
        sizes.append((h, w))
    if not readable:
        raise _no_images(root, problems)
    size = _target_size(sizes, options.image_size)

    # Pass 2: decode, composite, resize; files whose pixel data is corrupt are skipped here.
    arrays: list[np.ndarray] = []
    labels: list[int] = []
    all_grey = True
    for path, label in readable:
        try:
            arr, was_grey = decode_image(path, size, options.grayscale)
        except Unusable as e:
            problems.append(f"skipped {path}: {e}")
            continue
        except Image.DecompressionBombError:
            problems.append(f"skipped {path}: {bomb_reason(None, limit or 0)}")
            continue
        except DECODE_ERRORS as e:
            problems.append(f"skipped {path}: corrupt or truncated image data ({e})")
            continue
        arrays.append(arr)
        labels.append(label)
        all_grey = all_grey and (was_grey or arr.ndim == 2 or bool((arr == arr[:, :, :1]).all()))
    if not arrays:
        raise _no_images(root, problems)

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
        raise _path_error(f"'{path}' is not a .npz or .npy file")
    try:
        loaded = np.load(path, allow_pickle=False)  # never True: unpickling a file can run any code
        if suffix == ".npy" or isinstance(loaded, np.ndarray):
            if not isinstance(loaded, np.ndarray):
                loaded.close()
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
            rate = _sample_rate(loaded["sample_rate"], path) if "sample_rate" in loaded.files else 0
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
    except MemoryError as e:  # a header (or a bomb) declaring more than this machine holds
        raise DataError(f"cannot read '{path}': its array is larger than the memory available ({e})") from e


def _sample_rate(value: np.ndarray, path: Path) -> int:
    """The ``sample_rate`` entry of an .npz: one positive whole number of Hz."""
    v = np.asarray(value)
    if v.size != 1 or v.dtype.kind not in "iuf" or not np.isfinite(v).all() or float(v.flat[0]) != int(v.flat[0]) or v.flat[0] <= 0:
        raise DataError(f"'{path}': sample_rate must be one positive whole number of Hz; got {v.dtype} {v.shape}")
    return int(v.flat[0])


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
    if labels.dtype.kind == "u" and labels.size and labels.max() > np.iinfo(np.int64).max:
        raise DataError(f"'{path}': labels must be class numbers 0..{MAX_CLASSES - 1}; got up to {labels.max()}")
    labels = labels.astype(np.int64)
    if (labels == -1).all():
        return None
    if (labels < 0).any():
        raise DataError(f"'{path}': labels must be non-negative integers (or all -1 for unlabelled data)")
    if labels.max() >= MAX_CLASSES:
        # A conditional model has one embedding row per class up to the largest label.
        raise DataError(
            f"'{path}': labels must be class numbers 0..{MAX_CLASSES - 1}; got up to {labels.max()} "
            "(number the classes 0, 1, 2, ...)"
        )
    return labels


_IMAGE_FORMS = "save uint8 in 0..255 or floats in [0, 1]"


def _to_uint8(images: np.ndarray, path: Path) -> np.ndarray:
    """uint8 images from uint8, bool, integers in 0..255, or floats in [0, 1] (or 0..255).

    Floats whose maximum lies between 1 and 2 are refused rather than
    guessed: as 0..255 they would be black, as [0, 1] clipped; such values
    mean [0, 1] data that overshot (or was normalised some other way).
    """
    if images.dtype == np.uint8:
        return images
    if images.dtype == np.bool_:
        return images.astype(np.uint8) * 255
    if images.dtype.kind in "iu":
        lo, hi = int(images.min()), int(images.max())
        if lo < 0 or hi > 255:
            raise DataError(f"'{path}': integer images must lie in 0..255; got {lo}..{hi}; {_IMAGE_FORMS}")
        return images.astype(np.uint8)
    if images.dtype.kind == "f":
        if not np.all(np.isfinite(images)):
            raise DataError(f"'{path}': images contain NaN or infinite values; replace them before saving")
        lo, hi = float(images.min()), float(images.max())
        if lo < 0 or hi > 255:
            hint = " (for data in [-1, 1] save (x + 1) / 2)" if lo >= -1 and hi <= 1 else ""
            raise DataError(
                f"'{path}': float images must lie in [0, 1] (or 0..255); got [{lo:.3g}, {hi:.3g}]{hint}"
            )
        if 1.0 < hi < 2.0:
            raise DataError(
                f"'{path}': float images reach {hi:.4g}, so they are neither in [0, 1] nor in 0..255; "
                "clip them to [0, 1] or scale them to 0..255"
            )
        scale = 255.0 if hi <= 1.0 else 1.0  # [0, 1] is the documented form; 0..255 floats are common too
        return np.clip(np.rint(images.astype(np.float64) * scale), 0, 255).astype(np.uint8)
    raise DataError(f"'{path}': images must be real numbers, not {images.dtype}; {_IMAGE_FORMS}")


def _check_points(coords: np.ndarray, where: str) -> None:
    """Refuse NaN, infinite and float32-overflowing coordinates, naming the first bad row (counted from 1)."""
    c = np.asarray(coords, dtype=np.float64)
    bad = ~np.isfinite(c).all(1) | (np.abs(c) > _F32_MAX).any(1)
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(
            f"{where}: point {i + 1} is ({c[i, 0]:g}, {c[i, 1]:g}) ({int(bad.sum())} such rows); "
            "coordinates must be finite numbers within float32 range; remove or fix those rows"
        )


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
        raise _path_error(f"data path '{path}' is a folder, but the 'array' dataset needs a .npz or .npy file")
    key, data, raw_labels, rate = _load_array_file(path)
    if data.ndim == 0:
        raise DataError(f"'{path}': '{key}' holds a single value, not an array of examples")
    if data.size == 0:
        raise DataError(f"'{path}': the array '{key}' is empty (shape {data.shape})")
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
            raise DataError(f"'{path}': points must be real numbers (int or float), not {data.dtype}")
        _check_points(data, f"'{path}'")
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


def _whole_number(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def points_csv(options: DataOptions) -> Dataset:
    """2-D points from a CSV: two numeric columns, an optional header row, an optional label column.

    Labels may be integers (used as they are) or names (sorted, then
    numbered, and kept as class names). A malformed row is an error naming
    its line rather than a silently dropped point.
    """
    path = _existing_path(options, "csv")
    if path.is_dir():
        raise _path_error(f"data path '{path}' is a folder, but the 'csv' dataset needs a .csv file")
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: drop the BOM spreadsheets write
    except UnicodeDecodeError as e:
        raise DataError(f"cannot read '{path}' as text ({e}); save it as UTF-8 text (CSV)") from e
    except OSError as e:
        raise DataError(f"cannot read '{path}' ({e.strerror or e})") from e
    fix = "fix or remove that row"

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
                f"(x, y[, label]); got {len(fields)}; {fix}"
            )
        try:
            xy = (float(fields[0]), float(fields[1]))
        except ValueError:
            raise DataError(f"'{path}' line {lineno}: expected two numbers, got '{fields[0]}', '{fields[1]}'; {fix}") from None
        if not all(np.isfinite(v) and abs(v) <= _F32_MAX for v in xy):
            # float() reads "nan", "inf" and "1e999": numbers Python accepts that must never reach training.
            raise DataError(f"'{path}' line {lineno}: x and y must be finite numbers, got '{fields[0]}', '{fields[1]}'; {fix}")
        coords.append(xy)
        if width == 3:
            if not fields[2]:
                raise DataError(f"'{path}' line {lineno}: the label is empty; give every row a label or drop the column")
            raw_labels.append(fields[2])
    if not coords:
        raise DataError(f"'{path}' holds no points; expected rows of x, y[, label] (an optional header row first)")

    labels = None
    class_names: tuple[str, ...] = ()
    if raw_labels:
        numbers = [_whole_number(lab) for lab in raw_labels]
        if all(v is not None for v in numbers):
            if max(numbers) >= MAX_CLASSES:  # before numpy: a 30-digit label does not fit int64
                raise DataError(
                    f"'{path}': labels must be class numbers 0..{MAX_CLASSES - 1}; got up to {max(numbers)} "
                    "(number the classes 0, 1, 2, ...)"
                )
            labels = _labels(np.array(numbers, dtype=np.int64), len(coords), path)
        else:
            class_names = tuple(sorted(set(raw_labels)))
            if len(class_names) > MAX_CLASSES:
                raise DataError(
                    f"'{path}': the third column has {len(class_names)} different values; it is read as "
                    f"class labels (at most {MAX_CLASSES}); keep only x, y and a label column"
                )
            index = {name: i for i, name in enumerate(class_names)}
            labels = np.array([index[lab] for lab in raw_labels], dtype=np.int64)
    return points_dataset(np.array(coords, dtype=np.float64), labels, "csv", class_names)
