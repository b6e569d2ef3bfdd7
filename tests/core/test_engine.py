"""The engine: events, run folder, exact resume, divergence, failure, control."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from genstudio.core.config import ConfigError
from genstudio.core.data_types import DataInfo
from genstudio.core.engine import train
from genstudio.core.loading import load_run_model
from genstudio.core.model import GRAD_CHECK_EVERY, NonFiniteError, optimizer_step
from genstudio.core.events import CheckpointSaved, Finished, Metrics, Paused, Preview, RunControl, RunStarted
from genstudio.core.registry import register_dataset
from genstudio.core.runs import RunError, RunFolder
from genstudio.core.spec import RunSpec
from genstudio.data.dataset import Dataset, DataOptions


def toy_points(options: DataOptions) -> Dataset:
    """300 points from a shifted Gaussian (tests only)."""
    g = torch.Generator().manual_seed(options.seed)
    x = torch.randn(300, 2, generator=g) * 0.5 + torch.tensor([1.0, -1.0])
    return Dataset(x, torch.full((300,), -1), DataInfo("points", (2,), name="toy-points", extent=(-2, 4, -4, 2)))


register_dataset("toy-points", toy_points)


def spec(steps=20, **run):
    over = {"steps": steps, "batch_size": 32, "log_every": 5, "sample_every": 10, "checkpoint_every": 10, "eval_every": 10, "preview_every_s": 0, "preview_n": 16}
    over.update(run)
    model_over = over.pop("model_over", {})
    return RunSpec.create("toy", "toy-points", over, model_over)


def weights(run_dir):
    model, _, _ = load_run_model(run_dir, device="cpu")
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_events_and_run_folder(tmp_path):
    out = tmp_path / "run"
    events = list(train(spec(), out))
    assert isinstance(events[0], RunStarted)
    assert isinstance(events[-1], Finished) and events[-1].status == "completed"
    metrics = [e for e in events if isinstance(e, Metrics) and e.split == "train"]
    assert [m.step for m in metrics] == [5, 10, 15, 20]
    assert [m.step for m in events if isinstance(m, Metrics) and m.split == "val"] == [10, 20]
    previews = [e for e in events if isinstance(e, Preview)]
    assert previews and all(e.points is not None and e.points.shape == (16, 2) for e in previews)
    assert all(np.isfinite(e.points).all() and np.ptp(e.points, axis=0).min() > 0 for e in previews)  # a cloud, not a point
    assert [e.step for e in events if isinstance(e, CheckpointSaved)] == [10, 20]
    run = RunFolder(out)
    meta = run.meta
    assert meta["status"] == "completed" and meta["step"] == 20 and meta["model"] == "toy"
    assert meta["versions"]["torch"] == torch.__version__
    records, _ = run.read_metrics()
    assert [r["step"] for r in records if r["split"] == "train"] == [5, 10, 15, 20]
    assert (out / "config.toml").read_text().count("[model]") == 1
    assert run.latest_checkpoint() == 20
    assert [s for s, _ in run.sample_grids()] == [10, 20]
    assert run.spec().run.steps == 20


def test_resume_equals_uninterrupted(tmp_path):
    straight = tmp_path / "straight"
    list(train(spec(20), straight))
    part = tmp_path / "part"
    list(train(spec(10), part))
    resumed_spec = RunFolder(part).spec().with_overrides(run={"steps": 20})
    events = list(train(resumed_spec, part, resume=True))
    assert events[0].start_step == 10 and events[-1].status == "completed"
    a, b = weights(straight), weights(part)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # Metrics are not duplicated by the resume.
    steps = [r["step"] for r in RunFolder(part).read_metrics()[0] if r["split"] == "train"]
    assert steps == [5, 10, 15, 20]


def test_stop_token_saves_checkpoint(tmp_path):
    control = RunControl()
    out = tmp_path / "run"
    seen = []
    for ev in train(spec(10_000, checkpoint_every=0, sample_every=0), out, control=control):
        seen.append(ev)
        if isinstance(ev, Metrics) and ev.step >= 15:
            control.stop()
    final = seen[-1]
    assert final.status == "stopped" and 15 <= final.step < 10_000
    assert RunFolder(out).latest_checkpoint() == final.step
    assert RunFolder(out).meta["status"] == "stopped"


def test_pause_step_resume_from_another_thread(tmp_path):
    control = RunControl()
    control.pause()
    out = tmp_path / "run"
    gen = train(spec(40, log_every=1), out, control=control)
    assert isinstance(next(gen), RunStarted)
    ev = next(gen)
    assert isinstance(ev, Paused) and ev.paused and ev.step == 0
    # While paused, single steps run one at a time and each reports metrics.
    threading.Timer(0.05, control.step_once).start()
    ev = next(gen)
    assert isinstance(ev, Metrics) and ev.step == 1
    threading.Timer(0.05, control.resume).start()
    rest = list(gen)
    assert any(isinstance(e, Paused) and not e.paused for e in rest)
    assert rest[-1].status == "completed" and rest[-1].step == 40


def test_divergence_names_term_and_keeps_last_good_checkpoint(tmp_path):
    out = tmp_path / "run"
    events = list(train(spec(30, model_over={"diverge_at": 15}), out))
    final = events[-1]
    assert final.status == "diverged"
    assert final.term == "loss"
    assert "'loss'" in final.message and "step 10" in final.message
    run = RunFolder(out)
    assert run.meta["status"] == "diverged" and run.meta["diverged_term"] == "loss"
    assert run.latest_checkpoint() == 10
    model, _, _ = load_run_model(out, device="cpu")
    assert all(torch.isfinite(v).all() for v in model.state_dict().values())


@pytest.mark.parametrize("inf_at, ckpt_every", [(1, 1), (4, 1), (9, 1), (4, 100)])
def test_infinite_gradient_with_finite_loss_stops_the_run_before_a_bad_checkpoint(tmp_path, inf_at, ckpt_every):
    # Gradients are checked every GRAD_CHECK_EVERY steps; an overflow on an unchecked step
    # spoils the weights, which the next step's loss or the next checkpoint's check catches.
    out = tmp_path / "run"
    events = list(train(spec(30, checkpoint_every=ckpt_every, eval_every=0, sample_every=0, model_over={"inf_grad_at": inf_at}), out))
    final = events[-1]
    assert final.status == "diverged" and RunFolder(out).meta["status"] == "diverged"
    checked = (inf_at - 1) % GRAD_CHECK_EVERY == 0
    if checked:
        assert final.term == "gradient of loss"  # caught before optimizer.step
    elif ckpt_every == 1:
        assert final.term.startswith("weights")  # the checkpoint after the bad step refused
    else:
        assert final.term in ("loss", "nll")  # the next step's loss
        assert final.step == inf_at and f"diverged at step {inf_at + 1}" in final.message
    last = RunFolder(out).latest_checkpoint()
    assert last == (inf_at - 1 if ckpt_every == 1 and inf_at > 1 else None)
    if last is not None:
        model, _, _ = load_run_model(out, device="cpu")
        assert all(torch.isfinite(v).all() for v in model.state_dict().values())


def test_checked_gradient_never_reaches_the_weights():
    p = torch.nn.Parameter(torch.ones(3))
    opt = torch.optim.SGD([p], lr=0.1)
    p.register_hook(lambda g: torch.full_like(g, float("nan")))
    with pytest.raises(NonFiniteError, match="gradient of loss"):
        optimizer_step((p * 2).sum(), opt)  # the optimiser's first step is always checked
    assert torch.equal(p.detach(), torch.ones(3))


def test_nonfinite_loss_names_its_term_without_backward():
    p = torch.nn.Parameter(torch.ones(3))
    opt = torch.optim.SGD([p], lr=0.1)
    recon = (p * float("inf")).sum()
    kl = p.sum()
    with pytest.raises(NonFiniteError) as e:
        optimizer_step(recon + kl, opt, {"recon": recon, "kl": kl})
    assert e.value.term == "recon" and p.grad is None


def test_exception_marks_run_failed_with_traceback(tmp_path):
    out = tmp_path / "run"
    events = list(train(spec(30, model_over={"fail_at": 7}), out))
    final = events[-1]
    assert final.status == "failed"
    assert "toy model failed on purpose" in final.message
    assert "Traceback" in final.traceback
    assert RunFolder(out).meta["status"] == "failed"


def test_bad_input_creates_nothing(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(ConfigError):
        RunSpec.create("toy", "toy-points", {"steps": -1})
    with pytest.raises(ConfigError):
        train(spec(device="cuda:7"), out)
    assert not out.exists()
    out.mkdir()
    (out / "something").write_text("x")
    with pytest.raises(RunError):
        train(spec(), out)


def test_preview_does_not_disturb_training(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    list(train(spec(20, sample_every=1, eval_every=1), a))
    list(train(spec(20, sample_every=0, eval_every=0), b))
    wa, wb = weights(a), weights(b)
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


def test_time_limit_stops(tmp_path):
    events = list(train(spec(10_000_000, max_minutes=0.005, sample_every=0, checkpoint_every=0, eval_every=0), tmp_path / "r"))
    assert events[-1].status == "stopped" and "time limit" in events[-1].message
    # The ETA counts down to the time limit, not to step 10,000,000.
    etas = [e.eta_s for e in events if isinstance(e, Metrics) and e.split == "train"]
    assert etas and all(eta is not None and eta <= 0.005 * 60 for eta in etas)


def test_run_capabilities_follow_the_code_not_the_old_record(tmp_path):
    # A model that gained a capability after a run was saved gets its panel for that run too.
    from genstudio.core.capabilities import capabilities_of
    from genstudio.core.loading import build_model, run_capabilities

    out = tmp_path / "run"
    list(train(spec(4), out))
    run = RunFolder(out)
    run.update_meta(capabilities=[])
    s = run.spec()
    model = build_model(s, DataInfo.from_dict(run.meta["data_info"]), torch.device("cpu"))
    state = torch.random.get_rng_state()
    assert run_capabilities(out) == capabilities_of(model) != []
    assert torch.equal(torch.random.get_rng_state(), state)  # a live run's random stream is untouched
    run.update_meta(data_info={"broken": True})
    assert run_capabilities(out) == []  # falls back to the record when the model cannot be built


def test_live_weights_only_when_asked_at_the_preview_cadence_and_equal_to_the_model(tmp_path):
    """A copy of the whole state dict (EMA included) on request: at once the first time, then with the next grid."""
    from genstudio.core.events import LiveWeights

    # Nobody asks: no copy at all, however many grids.
    quiet = [e for e in train(spec(12, sample_every=4, checkpoint_every=0), tmp_path / "quiet") if isinstance(e, LiveWeights)]
    assert quiet == []

    control = RunControl()
    control.request_weights()
    served = []
    s = RunSpec.create("ddpm", "toy-points", {"steps": 12, "batch_size": 32, "log_every": 1, "sample_every": 4, "checkpoint_every": 1, "keep_last": 0, "eval_every": 0, "preview_every_s": 0, "preview_n": 8}, {"timesteps": 30, "mlp_hidden": 16})
    for e in train(s, tmp_path / "asked", control):
        if isinstance(e, LiveWeights):
            served.append(e)
            if len(served) < 3:
                control.request_weights()  # as a visible panel does after each load
    # Step 1: asked before the first grid, served at once; then only with the grids of steps 4 and 8 (never the last step).
    assert [e.step for e in served] == [1, 4, 8]
    run = RunFolder(tmp_path / "asked")
    for e in served:
        _, on_disk, _ = run.load_checkpoint(e.step, with_state=False)
        assert set(e.weights) == set(on_disk)
        assert any(k.startswith("ema.") for k in e.weights)  # the EMA copy the samples come from is in it
        for k, v in on_disk.items():
            assert e.weights[k].device.type == "cpu"
            assert torch.equal(e.weights[k], v), k  # a copy: later steps did not change it
    assert not control.weights_requested()
