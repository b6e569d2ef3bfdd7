"""Randomised input at the command line's boundary: ``genstudio train`` with random ``--set`` values and ``--config`` files.

Every example must end one of two ways: refused (exit 2, exactly one line on
stderr, no run folder made), or a run that ran (exit 0; or exit 1 for a run
that diverged, which says so in one line). Never a traceback.

Keys are drawn from the real settings of the point models (run., model. and
data. sections, qualified or bare) and from nonsense; values are valid,
out of range, of the wrong type, huge, NaN/inf, empty or unicode. The CLI
runs in this process (``genstudio.cli.main``), and ``engine.train`` is wrapped
so that accepted specs train for at most 3 steps on few points, with one
thread and no torch.compile: cost stays small, validation stays the real one.

By default the examples are derandomised (the same 60 every run, so CI is
not flaky); set GENSTUDIO_FUZZ_EXAMPLES=N to explore N random examples.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import tempfile
from pathlib import Path

import pytest
import tomli_w
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import genstudio.core.engine as engine
from genstudio.cli import main
from genstudio.core import config as cfg
from genstudio.core.registry import get_model_class
from genstudio.core.runs import RunFolder
from genstudio.core.spec import RunConfig
from genstudio.data.dataset import DataOptions

#: Models and the datasets they are fuzzed on: every family on 2-D points, the image ones also on 8x8 digits.
POINT_MODELS = ("vae", "ae", "gan", "wgan-gp", "ddpm", "ncsn", "realnvp", "nice", "maf", "iaf", "glow", "sparse-ae", "dae", "cvae", "cgan")
IMAGE_MODELS = ("vae", "dcgan", "ddpm", "pixelcnn", "made", "realnvp", "vq-vae")
PAIRS = [(m, d) for m in POINT_MODELS for d in ("moons", "8gaussians")] + [(m, "digits") for m in IMAGE_MODELS]
#: Integers at the edges of what numpy, torch and C can hold.
EDGE_INTS = [0, -1, 1, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64, 10**30, -(2**63), -(10**30)]
EXPLORE = int(os.environ.get("GENSTUDIO_FUZZ_EXAMPLES", "0"))

NASTY = ["", " ", "nan", "NaN", "inf", "-inf", "1e309", "-1e309", "0x10", "1_000", "true", "None", "null", "[]", "[1, 2]", "1,2",
         "∞", "１２", "ß", "\u202e", "é" * 50, "1e-400", "-0", "0.0", "9" * 40, "-" + "9" * 40, "3.5", "1/2", "${HOME}", "~"]  # fmt: skip


def _sections(model: str) -> dict[str, type]:
    return {"run": RunConfig, "model": get_model_class(model).config_class, "data": DataOptions}


def _valid_value(spec: cfg.ParamSpec) -> st.SearchStrategy:
    if spec.choices:
        return st.sampled_from(spec.choices)
    if spec.type is bool:
        return st.booleans()
    if spec.type is int:
        lo = int(spec.min) if spec.min is not None else -5
        hi = int(spec.max) if spec.max is not None else lo + 10_000
        return st.integers(lo, hi)
    if spec.type is float:
        lo = spec.min if spec.min is not None else -10.0
        hi = spec.max if spec.max is not None else lo + 1e4
        return st.floats(lo, hi, allow_nan=False)
    return st.text(max_size=12)


def _wild_value(spec: cfg.ParamSpec) -> st.SearchStrategy:
    out = [
        st.sampled_from(NASTY),
        st.sampled_from(EDGE_INTS),
        st.integers(-(10**30), 10**30),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=20),
        st.booleans(),
    ]
    if spec.max is not None:
        out.append(st.integers(int(spec.max) + 1, int(spec.max) + 10**6))
    if spec.min is not None:
        out.append(st.integers(int(spec.min) - 10**6, math.ceil(spec.min) - 1))
    return st.one_of(out)


@st.composite
def assignments(draw, model: str) -> list[tuple[str, object]]:
    """Up to four (key, value) pairs: real keys (bare or section.key) with valid or wild values, or nonsense keys."""
    sections = _sections(model)
    out = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["valid", "wild", "wild", "unknown"]))
        if kind == "unknown":
            key = draw(st.one_of(st.text(min_size=0, max_size=10), st.sampled_from(["model.nope", "run.", ".steps", "x.y.z", "train.steps", "=", " lr"])))
            out.append((key, draw(st.one_of(st.text(max_size=8), st.integers()))))
            continue
        section = draw(st.sampled_from(sorted(sections)))
        spec = draw(st.sampled_from(cfg.specs(sections[section])))
        if spec.name in ("model", "dataset"):
            continue  # the model and dataset are chosen above; a random one is tried through --config
        key = draw(st.sampled_from([spec.name, f"{section}.{spec.name}"]))
        out.append((key, draw(_valid_value(spec) if kind == "valid" else _wild_value(spec))))
    return out


def _as_cli_text(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


@st.composite
def cli_inputs(draw) -> tuple[list[str], str | None]:
    """(arguments after ``train --out DIR``, text of a --config file or None)."""
    model, dataset = draw(st.sampled_from(PAIRS))
    pairs = draw(assignments(model))
    if draw(st.booleans()):  # --set KEY=VALUE
        args = ["--model", model, "--dataset", dataset, "--steps", "2"]
        args += [f"--set={k}={_as_cli_text(v)}" for k, v in pairs]
        return args, None
    # --config FILE: a TOML document, or bytes that are not one
    if draw(st.integers(0, 9)) == 0:
        return [], draw(st.one_of(st.text(max_size=60), st.sampled_from(["[run", "run = 3", "[run]\nsteps = ", "\x00", "[[run]]\nx=1", "[model]\n[model]"])))
    doc: dict[str, dict] = {"run": {"model": draw(st.one_of(st.just(model), st.text(max_size=8))), "dataset": dataset, "steps": 2}}
    for key, value in pairs:
        section, _, name = key.rpartition(".")
        if not name:
            continue
        section = section or draw(st.sampled_from(["run", "model", "data", "extra"]))
        doc.setdefault(section, {})[name] = value
    if draw(st.integers(0, 4)) == 0:
        doc[draw(st.sampled_from(["run", "model", "data"]))] = draw(st.one_of(st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=2)))
    try:
        text = tomli_w.dumps(doc)
    except (TypeError, ValueError):  # a value TOML cannot hold (a NUL in a key): garbage of another kind
        text = repr(doc)
    return [], text


def cheap_train(real_train):
    """engine.train for accepted specs, made cheap: 3 steps at most, few points, one thread, no compile."""

    def train(spec, out_dir, **kwargs):
        run = {"steps": min(spec.run.steps, 3), "threads": 1, "compile": "off", "batch_size": min(spec.run.batch_size, 64),
               "preview_n": min(spec.run.preview_n, 4), "quality_n": min(spec.run.quality_n, 16), "eval_batches": min(spec.run.eval_batches, 2)}  # fmt: skip
        data = {"n_points": min(spec.data.n_points, 500)}
        return real_train(spec.with_overrides(run=run, data=data), out_dir, **kwargs)

    return train


def run_cli(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as e:  # argparse
            code = e.code if isinstance(e.code, int) else 2
    return code, err.getvalue()


def check_outcome(argv: list[str], code: int, err: str, out: Path) -> None:
    assert "Traceback" not in err, f"{argv}\n{err}"
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("genstudio: error: "), f"{argv}\n{err}"
        assert not out.exists(), f"{argv}: refused, yet {out} was made"
        return
    run = RunFolder(out)
    status = run.meta["status"] if run.exists() else None
    if code == 0:
        assert status in ("completed", "stopped"), (argv, status, err)
    else:
        assert code == 1 and status == "diverged", f"{argv}: exit {code}, status {status}\n{err}"


@pytest.fixture
def cheap(monkeypatch):
    monkeypatch.setattr(engine, "train", cheap_train(engine.train))


@settings(
    max_examples=EXPLORE or 60,
    deadline=None,
    derandomize=not EXPLORE,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(cli_inputs())
# Tracebacks found here once, kept as fixed examples:
@example((["--model", "vae", "--dataset", "moons", "--steps", "2", "--set=seed=100000000000000000000000"], None))  # sklearn's 32-bit seed
@example((["--model", "ddpm", "--dataset", "moons", "--steps", "2", "--set=data.seed=4294967296"], None))
@example((["--model", "ddpm", "--dataset", "digits", "--steps", "2", "--set=channel_mults=-1,2"], None))  # the model's ValueError
@example((["--model", "ddpm", "--dataset", "digits", "--steps", "2", "--set=channel_mults=[]"], None))
@example((["--model", "ddpm", "--dataset", "digits", "--steps", "2", "--set=channel_mults=100000"], None))  # 92 TB of weights
@example((["--model", "vae", "--dataset", "moons", "--steps", "2", "--set=0\x850="], None))  # U+0085 broke the line
@example(([], "run = 3\n"))  # a section that is not a table
@example(([], '[run]\nmodel = "ddpm"\ndataset = "digits"\n[model]\nchannel_mults = [[1], "a"]\n'))
def test_train_input_is_refused_in_one_line_or_runs(cheap, inputs):
    args, config_text = inputs
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        argv = ["train", "--out", str(out), *args]
        if config_text is not None:
            path = Path(tmp) / "c.toml"
            path.write_bytes(config_text.encode("utf-8", "surrogatepass"))
            argv += ["--config", str(path)]
        code, err = run_cli(argv)
        check_outcome(argv, code, err, out)
