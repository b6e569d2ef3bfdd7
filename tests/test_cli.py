"""The command line: train / sample / eval / list, and one clear line with exit 2 for bad input."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import tests.core.test_engine  # noqa: F401  (registers the toy-points dataset)
from genstudio.cli import main
from genstudio.core.runs import RunFolder

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ["train", "--model", "toy", "--dataset", "toy-points", "--steps", "20", "--set", "checkpoint_every=10", "--set", "preview_every_s=0"]


def run_cli(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def trained(tmp_path, capsys, name="run"):
    out = tmp_path / name
    code, _, err = run_cli([*TRAIN, "--out", str(out)], capsys)
    assert code == 0, err
    return out


def test_train_sample_eval_list(tmp_path, capsys, monkeypatch):
    out = trained(tmp_path, capsys)
    assert RunFolder(out).meta["status"] == "completed"
    code, stdout, err = run_cli(["sample", str(out), "--n", "50", "--out", str(tmp_path / "s.npz"), "--grid", str(tmp_path / "g.png")], capsys)
    assert code == 0, err
    data = np.load(tmp_path / "s.npz")
    assert data["points"].shape == (50, 2) and data["points"].dtype == np.float32
    assert (tmp_path / "g.png").stat().st_size > 0
    code, stdout, err = run_cli(["eval", str(out), "--n", "100"], capsys)
    assert code == 0, err
    result = json.loads(stdout)
    assert result["checkpoint_step"] == 20 and "nll" in result and "mmd2" in result and "mmd2_floor" in result
    code, stdout, _ = run_cli(["list", "models"], capsys)
    assert code == 0 and "toy" in stdout
    code, stdout, _ = run_cli(["list", "datasets"], capsys)
    assert "toy-points" in stdout
    code, stdout, _ = run_cli(["list", "runs", "--root", str(tmp_path)], capsys)
    assert code == 0 and "completed" in stdout


def test_same_seed_same_samples(tmp_path, capsys):
    out = trained(tmp_path, capsys)
    for name in ("a", "b"):
        assert run_cli(["sample", str(out), "--n", "8", "--seed", "3", "--out", str(tmp_path / f"{name}.npz")], capsys)[0] == 0
    assert np.array_equal(np.load(tmp_path / "a.npz")["points"], np.load(tmp_path / "b.npz")["points"])


def test_resume_continues(tmp_path, capsys):
    out = trained(tmp_path, capsys)
    code, _, err = run_cli(["train", "--resume", "--out", str(out), "--steps", "30"], capsys)
    assert code == 0, err
    assert RunFolder(out).meta["step"] == 30


@pytest.mark.parametrize(
    "args, needle",
    [
        (["train", "--model", "nope", "--dataset", "toy-points"], "unknown model 'nope'"),
        (["train", "--model", "toy", "--dataset", "nope"], "unknown dataset 'nope'"),
        ([*TRAIN, "--set", "lr=-1"], "'lr' must be at least"),
        ([*TRAIN, "--set", "lr=abc"], "'lr' expects float"),
        ([*TRAIN, "--set", "nonsense=1"], "unknown setting 'nonsense'"),
        ([*TRAIN, "--set", "lr"], "key=value"),
        (["train", "--model", "toy", "--dataset", "toy-points", "--steps", "0"], "'steps' must be at least 1"),
        (["train", "--model", "toy", "--dataset", "toy-points", "--device", "cuda:9"], "device"),
        (["train", "--config", "/no/such/file.toml"], "does not exist"),
        (["train", "--model", "toy", "--dataset", "folder", "--data-path", "/no/such/folder"], "does not exist"),
    ],
)
def test_bad_input_exits_2_and_creates_nothing(tmp_path, capsys, args, needle):
    out = tmp_path / "out"
    code, _, err = run_cli([*args, "--out", str(out)], capsys)
    assert code == 2
    assert needle in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_bad_config_file(tmp_path, capsys):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[run\nmodel = 'toy'")
    code, _, err = run_cli(["train", "--config", str(cfg), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "not valid TOML" in err
    cfg.write_text("[run]\nmodel = 'toy'\ndataset = 'toy-points'\n[model]\nlr = 5.0\n")
    code, _, err = run_cli(["train", "--config", str(cfg), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "'lr' must be at most" in err
    assert not (tmp_path / "o").exists()


def test_config_file_round_trip(tmp_path, capsys):
    out = trained(tmp_path, capsys)
    code, _, err = run_cli(["train", "--config", str(out / "config.toml"), "--steps", "5", "--out", str(tmp_path / "again")], capsys)
    assert code == 0, err
    assert RunFolder(tmp_path / "again").spec().model == RunFolder(out).spec().model


def test_existing_out_refused(tmp_path, capsys):
    out = trained(tmp_path, capsys)
    before = sorted(p.name for p in out.rglob("*"))
    code, _, err = run_cli([*TRAIN, "--out", str(out)], capsys)
    assert code == 2 and "already exists" in err
    assert sorted(p.name for p in out.rglob("*")) == before


def test_sample_bad_input(tmp_path, capsys):
    code, _, err = run_cli(["sample", str(tmp_path / "missing"), "--out", str(tmp_path / "s.npz")], capsys)
    assert code == 2 and "does not exist" in err
    out = trained(tmp_path, capsys)
    code, _, err = run_cli(["sample", str(out), "--out", str(tmp_path / "s.npz"), "--sampler", "ddim"], capsys)
    assert code == 2 and "no 'sampler' sampling option" in err
    code, _, err = run_cli(["sample", str(out), "--out", str(tmp_path / "s.npz"), "--temperature", "0.7"], capsys)
    assert code == 2 and "no 'temperature' sampling option" in err
    code, _, err = run_cli(["sample", str(out), "--out", str(tmp_path / "s.npz"), "--label", "1"], capsys)
    assert code == 2 and "not conditional" in err
    assert not (tmp_path / "s.npz").exists()


def test_eval_options_and_bad_input(tmp_path, capsys, monkeypatch):
    out = trained(tmp_path, capsys)
    code, stdout, err = run_cli(["eval", str(out), "--n", "60", "--no-save"], capsys)
    assert code == 0, err
    result = json.loads(stdout)
    assert result["likelihood"] == "exact" and result["nll_nats"] == result["nll"] and "mmd2_floor" in result
    assert not (out / "evals.jsonl").exists()
    code, stdout, err = run_cli(["eval", str(out), "--n", "60", "--seed", "2"], capsys)
    assert code == 0, err
    assert [json.loads(line) for line in (out / "evals.jsonl").read_text().splitlines()] == [json.loads(stdout)]
    for args, needle in (
        (["--sampler", "ddim"], "no 'sampler' sampling option"),
        (["--steps", "0"], "--steps must be at least 1"),
        (["--n", "1"], "--n must be at least 2"),
        (["--inception", str(tmp_path / "nope.pth")], "not a file"),
    ):
        code, _, err = run_cli(["eval", str(out), *args], capsys)
        assert code == 2 and needle in err, (args, err)
    monkeypatch.setenv("GENSTUDIO_INCEPTION_WEIGHTS", str(tmp_path / "gone.pth"))
    code, _, err = run_cli(["eval", str(out)], capsys)
    assert code == 2 and "GENSTUDIO_INCEPTION_WEIGHTS" in err and "never downloads" in err
    assert len((out / "evals.jsonl").read_text().splitlines()) == 1  # failed evaluations append nothing


def test_sample_and_eval_at_a_temperature(tmp_path, capsys):
    """Glow's paper samples at T = 0.7 (section 5): sample and eval take the temperature, eval records it,
    and T = 0 draws the prior's mode, the same point every time for each class."""
    out = tmp_path / "flow"
    code, _, err = run_cli(["train", "--model", "realnvp", "--dataset", "moons", "--steps", "3", "--out", str(out), "--set", "n_points=300",
                            "--set", "preview_n=4", "--set", "hidden=16", "--set", "threads=1"], capsys)
    assert code == 0, err
    code, _, err = run_cli(["sample", str(out), "--n", "20", "--out", str(tmp_path / "t0.npz"), "--temperature", "0"], capsys)
    assert code == 0, err
    t0 = np.load(tmp_path / "t0.npz")
    points, labels = t0["points"], t0["labels"]  # moons has two classes, and the class prior draws each in turn
    assert sorted(set(labels.tolist())) == [0, 1]
    for c in (0, 1):  # T = 0: each class's mean, mapped back
        assert np.allclose(points[labels == c], points[labels == c][0])
    code, _, err = run_cli(["sample", str(out), "--n", "20", "--out", str(tmp_path / "t1.npz")], capsys)
    assert code == 0, err
    warm = np.load(tmp_path / "t1.npz")["points"]
    assert not np.allclose(warm[labels == 0], warm[labels == 0][0])
    code, _, err = run_cli(["sample", str(out), "--out", str(tmp_path / "bad.npz"), "--temperature", "-1"], capsys)
    assert code == 2 and "temperature must be 0 or more" in err and not (tmp_path / "bad.npz").exists()
    code, stdout, err = run_cli(["eval", str(out), "--n", "60", "--no-save", "--temperature", "0.7"], capsys)
    assert code == 0, err
    assert json.loads(stdout)["temperature"] == 0.7
    code, stdout, err = run_cli(["eval", str(out), "--n", "60", "--no-save"], capsys)
    assert code == 0 and "temperature" not in json.loads(stdout)


def test_corrupt_checkpoint(tmp_path, capsys):
    out = trained(tmp_path, capsys)
    (out / "checkpoints" / "step_00000020.safetensors").write_bytes(b"\x00garbage")
    code, _, err = run_cli(["sample", str(out), "--out", str(tmp_path / "s.npz")], capsys)
    assert code == 2 and "corrupt" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s.npz").exists()


class RunsCode:
    """Unpickling this calls os.system: a malicious checkpoint."""

    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_malicious_pickle_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = trained(tmp_path, capsys)
    state = out / "checkpoints" / "step_00000020.state.pt"
    with open(state, "wb") as f:
        pickle.dump({"step": RunsCode()}, f)
    code, _, err = run_cli(["train", "--resume", "--out", str(out), "--steps", "30"], capsys)
    assert code == 2 and "refused or is corrupt" in err, err
    assert not (tmp_path / "PWNED").exists()
    assert RunFolder(out).meta["step"] == 20  # nothing was touched


def test_interrupted_save_keeps_previous_checkpoint(tmp_path, capsys, monkeypatch):
    out = trained(tmp_path, capsys)
    run = RunFolder(out)
    import genstudio.core.runs as runs

    def dying_save(tensors, path, metadata=None):
        Path(path).write_bytes(b"half a file")
        raise KeyboardInterrupt("killed mid-save")

    monkeypatch.setattr(runs, "save_file", dying_save)
    with pytest.raises(KeyboardInterrupt):
        run.save_checkpoint(30, {"w": __import__("torch").zeros(3)}, {"step": 30})
    monkeypatch.undo()
    assert run.latest_checkpoint() == 20
    assert not list(run.checkpoint_dir.glob("*.tmp"))
    step, weights, state = run.load_checkpoint()
    assert step == 20 and state["step"] == 20


def test_killed_process_resumes_from_last_checkpoint(tmp_path):
    """SIGKILL a real training process, then resume it from its last complete checkpoint."""
    out = tmp_path / "killed"
    code = (
        "import sys; sys.path.insert(0, %r); import tests.core.test_engine; from tests.toy_models import register_toys; register_toys();"
        "from genstudio.cli import main; sys.exit(main(sys.argv[1:]))" % str(ROOT)
    )
    args = ["train", "--model", "toy", "--dataset", "toy-points", "--steps", "1000000", "--out", str(out), "--set", "checkpoint_every=10", "--set", "sample_every=0", "--set", "eval_every=0", "--set", "preview_every_s=0"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", code, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 180
        while time.time() < deadline:
            if RunFolder(out).exists() and len(RunFolder(out).checkpoints()) >= 3:
                break
            time.sleep(0.05)
        else:
            pytest.fail("training process never wrote three checkpoints")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    run = RunFolder(out)
    last = run.latest_checkpoint()
    assert last is not None and last % 10 == 0
    run.load_checkpoint(last)  # complete and loadable
    resume = subprocess.run(
        [sys.executable, "-c", code, "train", "--resume", "--out", str(out), "--steps", str(last + 20)],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert resume.returncode == 0, resume.stderr
    assert run.meta["status"] == "completed" and run.meta["step"] == last + 20


def test_ddpm_sampler_options(tmp_path, capsys):
    out = tmp_path / "ddpm"
    args = ["train", "--model", "ddpm", "--dataset", "moons", "--steps", "3", "--out", str(out), "--set", "timesteps=20", "--set", "mlp_hidden=16", "--set", "n_points=300", "--set", "preview_n=4"]
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    code, stdout, err = run_cli(["sample", str(out), "--n", "5", "--out", str(tmp_path / "d.npz"), "--sampler", "ddim", "--steps", "4"], capsys)
    assert code == 0, err
    assert np.load(tmp_path / "d.npz")["points"].shape == (5, 2)
    code, _, err = run_cli(["sample", str(out), "--n", "5", "--out", str(tmp_path / "e.npz"), "--sampler", "euler"], capsys)
    assert code == 2 and "unknown sampler 'euler'" in err
    assert not (tmp_path / "e.npz").exists()


def test_sample_and_eval_take_the_free_cores_as_training_does(tmp_path, capsys, monkeypatch):
    """Every core busy elsewhere: sample and eval run on one torch thread, not torch's default of all cores."""
    import torch

    from genstudio.core import device

    out = trained(tmp_path, capsys)
    before = torch.get_num_threads()
    try:
        for cmd in (["sample", str(out), "--n", "8", "--out", str(tmp_path / "s.npz")], ["eval", str(out), "--n", "20"]):
            torch.set_num_threads(max(2, device.cpu_count()))
            monkeypatch.setattr(device, "busy_cores", lambda: device.cpu_count())
            assert run_cli(cmd, capsys)[0] == 0
            assert torch.get_num_threads() == 1, cmd[0]
    finally:
        torch.set_num_threads(before)
