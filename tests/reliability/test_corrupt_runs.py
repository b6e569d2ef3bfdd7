"""Corrupt run folders, seen from the core and the command line (the studio's side: test_studio_corrupt_runs.py).

What a user expects, and what these tests hold the code to:

- ``train --resume`` continues from the newest checkpoint that is whole on
  disk, and says which newer one it passed over. Training is deterministic,
  so starting from an older checkpoint loses only time; refusing would leave
  the user to repair the folder by hand.
- ``sample`` and ``eval`` refuse a broken checkpoint (one line, exit 2,
  nothing written) and name the newest complete one to ask for instead: their
  output is labelled with the checkpoint it came from, and numbers quietly
  taken from an older model would be false.
- A ``config.toml`` that no longer builds (unknown model, out-of-range or
  wrong-typed value, not TOML) stops ``eval``, ``sample`` and ``train --resume``
  with one line and exit 2, and leaves the folder as it was.
- A torn or garbled ``metrics.jsonl`` line is skipped by readers, ``list
  runs`` still lists the run, and a resume drops the torn tail instead of
  gluing its first record onto it.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

import tests.core.test_engine  # noqa: F401  (registers the toy-points dataset)
from genstudio.cli import main
from genstudio.core.runs import RunFolder

TRAIN = ["train", "--model", "toy", "--dataset", "toy-points", "--steps", "30", "--set", "checkpoint_every=10",
         "--set", "preview_every_s=0", "--set", "log_every=5", "--set", "threads=1"]  # fmt: skip


def cli(args, capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def snapshot(path: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``path`` with its size and modification time: "nothing changed" is equality.

    Pin files (``checkpoints/step_N.lock``, core/run_lock.py) are left out: any reader of a
    checkpoint makes one, by design, and they hold no data.
    """
    return {
        str(p.relative_to(path)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(path.rglob("*"))
        if p.is_file() and not (p.parent.name == "checkpoints" and p.suffix == ".lock")
    }


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    out = tmp_path_factory.mktemp("pristine") / "run"
    assert main([*TRAIN, "--out", str(out)]) == 0
    assert RunFolder(out).checkpoints() == [10, 20, 30]
    return out


@pytest.fixture
def run_dir(pristine, tmp_path) -> Path:
    dst = tmp_path / "run"
    shutil.copytree(pristine, dst)
    return dst


def weights_file(run_dir: Path, step: int) -> Path:
    return run_dir / "checkpoints" / f"step_{step:08d}.safetensors"


def state_file(run_dir: Path, step: int) -> Path:
    return run_dir / "checkpoints" / f"step_{step:08d}.state.pt"


BREAK = {
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
    "one-byte-short": lambda p: p.write_bytes(p.read_bytes()[:-1]),
    "zero-byte": lambda p: p.write_bytes(b""),
    "missing": lambda p: p.unlink(),  # latest.json still names it
    "garbage": lambda p: p.write_bytes(b"\x00garbage"),
}


@pytest.mark.parametrize("how", sorted(BREAK))
def test_resume_passes_over_a_broken_newest_checkpoint(run_dir, capsys, how):
    BREAK[how](weights_file(run_dir, 30))
    run = RunFolder(run_dir)
    assert run.latest_checkpoint() == 30  # what latest.json says
    assert run.newest_complete_checkpoint() == 20  # what is whole on disk
    code, _, err = cli(["train", "--resume", "--out", run_dir, "--steps", "40"], capsys)
    assert code == 0, err
    assert "warning: checkpoint step 30 is" in err and "resuming from step 20" in err, err
    assert "40 steps from step 20" in err
    assert run.meta["status"] == "completed" and run.meta["step"] == 40
    assert [r["step"] for r in run.read_metrics()[0] if r["split"] == "train"] == [5, 10, 15, 20, 25, 30, 35, 40]
    assert run.checkpoint_problem(30) is None  # step 30 was written again, whole


@pytest.mark.parametrize("how", sorted(BREAK))
def test_sample_and_eval_refuse_a_broken_checkpoint_and_name_the_newest_complete(run_dir, tmp_path, capsys, how):
    BREAK[how](weights_file(run_dir, 30))
    before = snapshot(run_dir)
    code, _, err = cli(["sample", run_dir, "--n", "8", "--out", tmp_path / "s.npz"], capsys)
    line = one_line(err)
    assert code == 2 and "step_00000030.safetensors" in line and "--checkpoint 20" in line, line
    assert how != "missing" or "missing" in line
    assert how == "missing" or "corrupt" in line or "empty" in line
    assert not (tmp_path / "s.npz").exists()
    code, out, err = cli(["eval", run_dir, "--n", "50"], capsys)
    assert code == 2 and out == "" and "--checkpoint 20" in one_line(err)
    assert snapshot(run_dir) == before  # no evals.jsonl, nothing touched
    code, out, err = cli(["sample", run_dir, "--n", "8", "--checkpoint", "20", "--out", tmp_path / "s.npz"], capsys)
    assert code == 0 and json.loads(out)["checkpoint_step"] == 20, err


@pytest.mark.parametrize("how", ["truncated", "zero-byte", "missing"])
def test_broken_trainer_state_is_passed_over_by_resume_only(run_dir, tmp_path, capsys, how):
    BREAK[how](state_file(run_dir, 30))
    run = RunFolder(run_dir)
    assert run.newest_complete_checkpoint() == 20 and run.newest_complete_checkpoint(with_state=False) == 30
    # Sampling needs only the weights, which are whole.
    code, out, err = cli(["sample", run_dir, "--n", "8", "--out", tmp_path / "s.npz"], capsys)
    assert code == 0 and json.loads(out)["checkpoint_step"] == 30, err
    code, _, err = cli(["train", "--resume", "--out", run_dir, "--steps", "40"], capsys)
    assert code == 0 and "warning: checkpoint step 30 is missing its trainer state" in err and "40 steps from step 20" in err, err


def test_broken_state_refused_when_asked_for_by_step(run_dir):
    BREAK["truncated"](state_file(run_dir, 30))
    with pytest.raises(Exception, match=r"trainer state.*newest complete checkpoint is step 20"):
        RunFolder(run_dir).load_checkpoint(30)


@pytest.mark.parametrize("pointer", ["", "{not json", "[30]", '{"weights": "x"}', '{"step": "thirty"}', "\xff\xfe"])
def test_unreadable_latest_json_falls_back_to_the_files(run_dir, capsys, pointer):
    (run_dir / "checkpoints" / "latest.json").write_text(pointer, encoding="latin-1")
    run = RunFolder(run_dir)
    assert run.latest_checkpoint() == 30
    step, weights, state = run.load_checkpoint()
    assert step == 30 and state["step"] == 30
    code, _, err = cli(["train", "--resume", "--out", run_dir, "--steps", "35"], capsys)
    assert code == 0 and "35 steps from step 30" in err and "warning" not in err, err


def test_no_complete_checkpoint_at_all(run_dir, tmp_path, capsys):
    for step in (10, 20, 30):
        BREAK["zero-byte"](weights_file(run_dir, step))
    code, _, err = cli(["sample", run_dir, "--out", tmp_path / "s.npz"], capsys)
    assert code == 2 and "no other complete checkpoint" in one_line(err)
    code, _, err = cli(["train", "--resume", "--out", run_dir, "--steps", "10"], capsys)
    assert code == 0 and "resuming from the beginning" in err and "10 steps from step 0" in err, err


BAD_CONFIGS = {  # case: (how to change config.toml's text, what the one line must say)
    "unknown model": (lambda t: t.replace('model = "toy"', 'model = "no-such-model"'), "unknown model 'no-such-model'"),
    "unknown dataset": (lambda t: t.replace('dataset = "toy-points"', 'dataset = "nowhere"'), "unknown dataset 'nowhere'"),
    "out of range": (lambda t: re.sub(r"batch_size = \d+", "batch_size = -4", t), "'batch_size' must be at least"),
    "wrong type": (lambda t: re.sub(r"batch_size = \d+", 'batch_size = "many"', t), "'batch_size' expects int"),
    "model value out of range": (lambda t: t.replace("hidden = 8", "hidden = 100000"), "'hidden' must be at most"),
    "unknown key": (lambda t: t.replace("[run]", "[run]\nwarp_speed = 9"), "unknown setting 'warp_speed'"),
    "section not a table": (lambda t: "run = 3\n", "[run]"),
    "not TOML": (lambda t: t.replace("[run]", "[run"), "not valid TOML"),
    "not text": (lambda t: "\udcff" + t, "not valid TOML"),
    "empty": (lambda t: "", "has no model, dataset"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_config_toml_is_one_line_and_touches_nothing(run_dir, tmp_path, capsys, case):
    change, needle = BAD_CONFIGS[case]
    cfg = run_dir / "config.toml"
    text = cfg.read_text()
    changed = change(text)
    assert changed != text
    cfg.write_bytes(changed.encode("utf-8", "surrogateescape"))
    before = snapshot(run_dir)
    for args in (
        ["eval", run_dir, "--n", "50"],
        ["sample", run_dir, "--n", "8", "--out", tmp_path / "s.npz"],
        ["train", "--resume", "--out", run_dir, "--steps", "40"],
    ):
        code, out, err = cli(args, capsys)
        line = one_line(err)
        assert code == 2 and out == "" and needle in line and "config.toml" in line, (args, line)
    assert not (tmp_path / "s.npz").exists()
    assert snapshot(run_dir) == before


def test_torn_last_metrics_line(run_dir, capsys):
    run = RunFolder(run_dir)
    records, _ = run.read_metrics()
    with open(run.metrics_path, "ab") as f:
        f.write(b'{"step": 31, "split": "tr')  # a process killed mid-append
    assert run.read_metrics()[0] == records
    code, out, err = cli(["list", "runs", "--root", run_dir.parent], capsys)
    assert code == 0 and str(run_dir) in out and "completed" in out, err
    code, _, err = cli(["train", "--resume", "--out", run_dir, "--steps", "40"], capsys)
    assert code == 0, err
    lines = run.metrics_path.read_bytes().splitlines()
    assert all(isinstance(json.loads(line), dict) for line in lines)  # the torn tail was dropped, nothing glued onto it
    assert [r["step"] for r in run.read_metrics()[0] if r["split"] == "train"] == [5, 10, 15, 20, 25, 30, 35, 40]


def test_garbled_metrics_lines_are_skipped(run_dir, capsys):
    run = RunFolder(run_dir)
    records, _ = run.read_metrics()
    with open(run.metrics_path, "ab") as f:
        f.write(b"\xff\xfe not text\n3\n[1, 2]\nnull\n{\"step\": 99, \"split\": \"train\", \"loss\": 1.0}\n")
    got, end = run.read_metrics()
    assert got == [*records, {"step": 99, "split": "train", "loss": 1.0}] and end == run.metrics_path.stat().st_size
    code, out, err = cli(["list", "runs", "--root", run_dir.parent], capsys)
    assert code == 0 and str(run_dir) in out, err


def test_corrupt_meta_is_listed_and_refused(run_dir, tmp_path, capsys):
    (run_dir / "meta.json").write_text('{"status": "runn')
    code, out, err = cli(["list", "runs", "--root", run_dir.parent], capsys)
    assert code == 0 and "unreadable" in out and "meta.json" in out, err
    for args in (["eval", run_dir, "--n", "50"], ["sample", run_dir, "--out", tmp_path / "s.npz"], ["train", "--resume", "--out", run_dir]):
        code, _, err = cli(args, capsys)
        assert code == 2 and "meta.json" in one_line(err), (args, err)
