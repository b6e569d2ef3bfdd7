"""vq-prior: the codebook run's checks (model, command line), causality over the code grid, generation and
completion in code space, the likelihood of the codes, and (slow) learning the codes of a tiny VQ-VAE."""

from __future__ import annotations

import json
import math
import shutil

import pytest
import torch

from genstudio.cli import main
from genstudio.core import config as cfg
from genstudio.core.data_types import DataInfo
from genstudio.core.engine import train
from genstudio.core.run_refs import RunRefError
from genstudio.core.spec import RunSpec
from genstudio.data.dataset import load_dataset
from genstudio.models.autoregressive.vq_prior import VQPrior, VQPriorConfig

RUN = {"batch_size": 16, "steps": 2, "log_every": 1, "sample_every": 0, "preview_every_s": 0, "eval_every": 0, "checkpoint_every": 0, "preview_n": 4}
TINY_VQ = {"channels": 8, "num_codes": 16, "code_dim": 4}
TINY_PRIOR = {"channels": 8, "layers": 3, "embed_dim": 4, "output_hidden": 16}
DIGITS = DataInfo("image", (1, 8, 8), 10, "digits")
MNIST = DataInfo("image", (1, 28, 28), 10, "mnist5k")


def make_run(root, name, model, dataset, over):
    out = root / name
    events = list(train(RunSpec.create(model, dataset, RUN, over), out))
    assert events[-1].status == "completed", events[-1].message
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A vq-vae on digits (fits), one on mnist5k (other shape: a 7 x 7 grid), a vae on digits (not a vq-vae), a
    vq-vae marked running (unfinished) and one marked failed with its checkpoints gone."""
    root = tmp_path_factory.mktemp("runs")
    vq = make_run(root, "vq-digits", "vq-vae", "digits", TINY_VQ)
    mnist = make_run(root, "vq-mnist", "vq-vae", "mnist5k", TINY_VQ)
    vae = make_run(root, "vae-digits", "vae", "digits", {"channels": 8, "hidden": 16, "latent_dim": 4})
    live = root / "vq-live"
    shutil.copytree(vq, live)
    meta = json.loads((live / "meta.json").read_text())
    (live / "meta.json").write_text(json.dumps({**meta, "status": "running"}))
    empty = root / "vq-empty"
    shutil.copytree(vq, empty)
    shutil.rmtree(empty / "checkpoints")
    return {"root": root, "vq": vq, "mnist": mnist, "vae": vae, "live": live, "empty": empty}


def prior(run, info=DIGITS, **over) -> VQPrior:
    torch.manual_seed(0)
    return VQPrior(cfg.with_overrides(VQPriorConfig(), {**TINY_PRIOR, "codebook_run": str(run), **over}), info)


#: (run key, what the one-line message must say: the run's name and the mismatch).
BAD = [
    ("vae", "'vae-digits' is a vae run; choose a run of vq-vae"),
    ("live", "'vq-live' is running, not finished"),
    ("empty", "'vq-empty' has no checkpoint yet"),
    ("mnist", "'vq-mnist' was trained on mnist5k (1 x 28 x 28), but this run's data is digits (1 x 8 x 8)"),
    ("missing", "does not exist"),
]


def bad_path(runs, key):
    return runs["root"] / "nowhere" if key == "missing" else runs[key]


@pytest.mark.parametrize("key,message", BAD)
def test_the_model_refuses_a_codebook_run_that_does_not_fit(runs, key, message):
    with pytest.raises(RunRefError) as e:
        prior(bad_path(runs, key))
    assert message in str(e.value) and "setting 'codebook_run'" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(RunRefError, match="vq-prior needs codebook_run: the run folder of a finished vq-vae"):
        VQPrior(VQPriorConfig(), DIGITS)


@pytest.mark.parametrize("key,message", BAD)
def test_the_command_line_refuses_it_with_exit_2_and_creates_nothing(runs, key, message, tmp_path, capsys):
    out = tmp_path / "prior"
    code = main(["train", "--model", "vq-prior", "--dataset", "digits", "--steps", "1", "--out", str(out),
                 "--set", f"codebook_run={bad_path(runs, key)}"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.startswith("genstudio: error: ") and err.count("\n") == 1, err
    assert not out.exists()


def test_a_fitting_run_is_accepted_and_frozen(runs):
    m = prior(runs["vq"])
    assert m.grid == (2, 2) and m.num_codes == 16 and m.conditional and m.num_classes == 10
    assert all(not p.requires_grad for p in m.vqvae.parameters())
    ours = {id(p) for g in m.opt.param_groups for p in g["params"]}
    assert ours and not ours & {id(p) for p in m.vqvae.parameters()}  # the optimiser never sees the VQ-VAE
    before = {k: v.clone() for k, v in m.vqvae.state_dict().items()}
    batch = load_dataset("digits", RunSpec.create("vq-prior", "digits").data).get(slice(0, 32))
    m.train()
    assert not m.vqvae.training
    out = m.train_step(batch)
    assert math.isclose(out["bpd"], out["nll"] / (4 * math.log(2)))
    assert all(torch.equal(v, m.vqvae.state_dict()[k]) for k, v in before.items())


def test_each_code_depends_only_on_the_codes_before_it(runs):
    """Change one code of a 7 x 7 grid: exactly the positions after it in raster order (within reach) change."""
    m = prior(runs["mnist"], MNIST, layers=4).eval()
    h, w = m.grid
    assert (h, w) == (7, 7)
    g = torch.Generator().manual_seed(0)
    base = torch.randint(0, m.num_codes, (1, h, w), generator=g)
    with torch.no_grad():
        ref = m.code_logits(base)
        for i in range(h):
            for j in range(w):
                moved = base.clone()
                moved[0, i, j] = (moved[0, i, j] + 1) % m.num_codes
                changed = (m.code_logits(moved) - ref).abs().amax(1)[0] > 1e-6
                order = torch.arange(h * w).view(h, w)
                assert not changed[order <= i * w + j].any(), f"a code at or before {(i, j)} sees the code at {(i, j)}"
                if j + 1 < w:
                    assert changed[i, j + 1], f"the code right of {(i, j)} does not see it"
                if i + 1 < h:
                    assert changed[i + 1, j], f"the code below {(i, j)} does not see it (a blind spot)"


def test_a_leaky_first_layer_is_caught(runs):
    """The broken variant: mask A opened at the centre lets a position see its own code."""
    m = prior(runs["mnist"], MNIST, layers=2).eval()
    m.layers[0].h_conv.mask.fill_(1.0)
    base = torch.zeros(1, 7, 7, dtype=torch.long)
    moved = base.clone()
    moved[0, 3, 3] = 5
    with torch.no_grad():
        assert (m.code_logits(moved) - m.code_logits(base)).abs().amax(1)[0, 3, 3] > 1e-6


def test_generation_yields_every_position_and_its_probabilities_score_the_grid(runs):
    m = prior(runs["mnist"], MNIST, layers=3).eval()
    labels = torch.tensor([3, 7])
    steps = list(m.generate_code_steps(2, torch.Generator().manual_seed(1), labels=labels))
    assert len(steps) == 49 and [s.position for s in steps[:3]] == [(0, 0), (0, 1), (0, 2)] and steps[-1].index == steps[-1].total == 49
    assert steps[0].drawn.sum() == 1 and bool(steps[-1].drawn.all())
    codes = steps[-1].codes
    # The product of the distributions the codes were drawn from is the teacher-forced likelihood: the crop to the
    # rows above is exact.
    drawn_lp = torch.stack([s.probs[torch.arange(2), codes[:, i, j]].log() for s in steps for i, j in [s.position]]).sum(0)
    with torch.no_grad():
        forced = -m.nll_per_example(m.code_logits(codes, labels), codes)
    assert torch.allclose(drawn_lp, forced, atol=1e-4)
    again = list(m.generate_code_steps(2, torch.Generator().manual_seed(1), labels=labels))[-1].codes
    assert torch.equal(again, codes)
    assert torch.allclose(m.decode_partial(codes, torch.ones(7, 7, dtype=torch.bool)), m.decode_codes(codes), atol=1e-6)


def test_completion_keeps_the_given_rows_and_draws_the_rest(runs):
    m = prior(runs["mnist"], MNIST, layers=3).eval()
    x = load_dataset("mnist5k", RunSpec.create("vq-prior", "mnist5k").data).get(slice(0, 3)).x
    codes = m.codes(x)
    keep = torch.zeros(7, 7, dtype=torch.bool)
    keep[:3] = True
    steps = list(m.generate_code_steps(3, torch.Generator().manual_seed(2), known=codes, mask=keep))
    assert len(steps) == 28 and steps[0].position == (3, 0)
    out = m.complete_codes(codes, keep, torch.Generator().manual_seed(2))
    assert torch.equal(out[:, :3], codes[:, :3]) and torch.equal(out, steps[-1].codes)
    assert not torch.equal(out[:, 3:], codes[:, 3:])


def test_likelihood_is_of_the_codes(runs):
    m = prior(runs["vq"]).eval()
    batch = load_dataset("digits", RunSpec.create("vq-prior", "digits").data).get(slice(0, 8))
    lp = m.log_prob(batch.x)
    assert lp.shape == (8,) and (lp < 0).all() and m.likelihood_data == "VQ codes"
    ev = m.evaluate(batch)
    assert math.isclose(ev["bpd"], ev["nll"] / (4 * math.log(2)), rel_tol=1e-6)
    with pytest.raises(TypeError, match="unknown sampling option"):
        m.sample(2, steps=3)


@pytest.mark.slow
def test_vq_prior_learns_the_codes_of_a_tiny_vq_vae(tmp_path):
    """A tiny vq-vae trained here on digits, then vq-prior on its codes: the validation code NLL falls well below
    the untrained prior's and below the entropy of the codes' marginal (it uses the context, not only the counts)."""
    from genstudio.core.loading import load_run_model

    quiet = {"log_every": 50, "sample_every": 0, "preview_every_s": 0, "eval_every": 0, "checkpoint_every": 0, "preview_n": 4}
    vq = tmp_path / "vq"
    spec = RunSpec.create("vq-vae", "digits", {**quiet, "steps": 300, "batch_size": 64}, {"channels": 16, "num_codes": 32, "code_dim": 8})
    assert list(train(spec, vq))[-1].status == "completed"
    spec = RunSpec.create("vq-prior", "digits", {**quiet, "steps": 400, "batch_size": 64},
                          {"channels": 32, "layers": 4, "embed_dim": 16, "output_hidden": 64, "lr": 3e-3, "codebook_run": str(vq)})
    assert list(train(spec, tmp_path / "prior"))[-1].status == "completed"
    trained, _, _ = load_run_model(tmp_path / "prior", device="cpu")
    ds = load_dataset("digits", spec.data)
    _, val = ds.split(spec.data.val_fraction, spec.data.seed)
    batch = val.get(slice(0, len(val)))
    torch.manual_seed(0)
    untrained = VQPrior(spec.model, ds.info).eval()
    nll_trained, nll_untrained = trained.evaluate(batch)["nll"], untrained.evaluate(batch)["nll"]
    codes = trained.codes(batch.x)
    p = torch.bincount(codes.flatten(), minlength=trained.num_codes).float() / codes.numel()
    marginal = -(p[p > 0] * p[p > 0].log()).sum().item() * codes[0].numel()  # nats per image if positions were independent
    # Measured: 8.28 nats per image (a 2 x 2 grid of 32 codes) against 13.89 untrained and 11.16 for the marginal.
    assert nll_trained < 0.7 * nll_untrained, (nll_trained, nll_untrained)
    assert nll_trained < 0.9 * marginal, (nll_trained, marginal)
    x = trained.sample(8, torch.Generator().manual_seed(0))
    assert x.shape == (8, 1, 8, 8) and 0 <= x.min() and x.max() <= 1
