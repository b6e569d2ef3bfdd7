"""vq-prior in the studio: the codebook run combo and its refusals in the form, "Use as codebook for vq-prior"
in the runs browser, and the Code prior tab (generation position by position, code usage, completion)."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
import torch

from genstudio.core.engine import train
from genstudio.core.spec import RunSpec

RUN = {"batch_size": 16, "steps": 2, "log_every": 1, "sample_every": 0, "preview_every_s": 0, "eval_every": 0, "checkpoint_every": 0, "preview_n": 4}
TINY_VQ = {"channels": 8, "num_codes": 16, "code_dim": 4}
TINY_PRIOR = {"channels": 8, "layers": 3, "embed_dim": 4, "output_hidden": 16}


def make_run(root, name, model, dataset, over):
    out = root / name
    events = list(train(RunSpec.create(model, dataset, RUN, over), out))
    assert events[-1].status == "completed", events[-1].message
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("vq-runs")
    vq = make_run(root, "vq-digits", "vq-vae", "digits", TINY_VQ)
    vae = make_run(root, "vae-digits", "vae", "digits", {"channels": 8, "hidden": 16, "latent_dim": 4})
    live = root / "vq-live"
    shutil.copytree(vq, live)
    meta = json.loads((live / "meta.json").read_text())
    (live / "meta.json").write_text(json.dumps({**meta, "status": "running"}))
    prior = make_run(root, "prior", "vq-prior", "digits", {**TINY_PRIOR, "codebook_run": str(vq)})
    mnist_vq = make_run(root, "vq-mnist", "vq-vae", "mnist5k", TINY_VQ)
    mnist_prior = make_run(root, "prior-mnist", "vq-prior", "mnist5k", {**TINY_PRIOR, "codebook_run": str(mnist_vq)})
    return {"root": root, "vq": vq, "vae": vae, "live": live, "prior": prior, "mnist_vq": mnist_vq, "mnist_prior": mnist_prior}


def test_the_form_offers_finished_vq_vae_runs_and_names_each_mismatch(qtbot, runs):
    from genstudio.models.autoregressive.vq_prior import VQPriorConfig
    from genstudio.ui.config_form import ConfigForm
    from genstudio.ui.run_field import RunContext

    form = ConfigForm(VQPriorConfig)
    qtbot.addWidget(form)
    form.set_run_context(RunContext(runs["root"], "digits", (1, 8, 8)))
    combo = form.fields["codebook_run"].widget
    assert [combo.itemData(i) for i in range(combo.count())][1:-1] == [str(runs["vq"])]  # not the vae, the live one, the mnist one
    assert not form.is_valid() and "needs a run: choose a finished run of vq-vae" in form.errors()["codebook_run"]
    for key, message in (
        ("vae", "'vae-digits' is a vae run; choose a run of vq-vae"),
        ("live", "'vq-live' is running, not finished"),
        ("mnist_vq", "'vq-mnist' was trained on mnist5k (1 x 28 x 28), but this run's data is digits (1 x 8 x 8)"),
    ):
        form.set_values({"codebook_run": str(runs[key])})
        assert message in form.errors()["codebook_run"], key
        assert not form.is_valid()
    form.set_values({"codebook_run": str(runs["vq"])})
    assert form.is_valid()


def test_runs_browser_uses_a_vq_vae_run_as_the_codebook(window, qtbot, runs, tmp_path):
    from genstudio.ui.model_panel import run_field_uses

    assert ("vq-prior", "codebook_run", "Use as codebook for vq-prior") in run_field_uses("vq-vae")
    assert not any(mid == "vq-prior" for mid, _, _ in run_field_uses("vae"))
    root = tmp_path / "runs"
    vq = make_run(root, "vq-digits", "vq-vae", "digits", TINY_VQ)
    window.dataset_panel.select("digits")
    qtbot.waitUntil(window.dataset_panel.is_usable, timeout=30_000)
    browser = window.runs_browser
    browser.set_root(root)
    row = [str(r.path) for r in browser.runs()].index(str(vq))
    actions = {a.text(): a for a in browser.context_menu(row).actions()}
    assert actions["Use as codebook for vq-prior"].isEnabled() and "Use as autoencoder for ldm" in actions
    actions["Use as codebook for vq-prior"].trigger()
    panel = window.model_panel
    assert panel.model_id() == "vq-prior" and panel.model_form.fields["codebook_run"].widget.currentData() == str(vq)
    qtbot.waitUntil(window.act_train.isEnabled, timeout=5_000)
    assert panel.is_valid() and not panel.problems()


def make_panel(qtbot, run_dir):
    from genstudio.core.runs import RunFolder
    from genstudio.ui.panels import PanelContext, panels_for
    from genstudio.ui.panels.builtin import load_builtin_panels

    load_builtin_panels()
    caps = RunFolder(run_dir).meta["capabilities"]
    assert "CodePrior" in caps
    titles = dict(panels_for(caps))
    assert "Code prior" in titles and "Autoregressive" not in titles and "Latent" not in titles
    panel = titles["Code prior"](PanelContext(run_dir=run_dir, capabilities=caps))
    qtbot.addWidget(panel)
    panel.resize(1100, 720)
    panel.show()
    qtbot.waitUntil(lambda: panel.model is not None, timeout=30_000)
    return panel


def pause_autoplay(gen):
    """The tab plays by itself when first shown: the stepping tests start from a paused, fresh run."""
    gen.play_button.setChecked(False)
    gen.reset()


def test_generation_plays_by_itself_once_shown_on_axes_of_the_codes(qtbot, runs):
    """At 1366x768 the tab waited grey for Step or Play, above an empty plot whose axis read 0.1..0.9 along
    "code": hidden, it waits (no CPU taken from training); shown, it plays; before a draw the plot spans the codes."""
    from genstudio.ui.panels import PanelContext, panels_for
    from genstudio.ui.panels.builtin import load_builtin_panels

    load_builtin_panels()
    caps = ["Likelihood", "Conditional", "CodePrior"]
    panel = dict(panels_for(caps))["Code prior"](PanelContext(run_dir=runs["mnist_prior"], capabilities=caps))
    qtbot.addWidget(panel)
    panel.resize(1100, 720)
    panel.tabs.setCurrentWidget(panel.usage)
    panel.show()
    qtbot.waitUntil(lambda: panel.model is not None, timeout=30_000)
    gen = panel.generation
    qtbot.wait(200)
    assert gen.task is None and gen.frame is None and not gen.play_button.isChecked()
    lo, hi = gen.prob_plot.getPlotItem().vb.viewRange()[0]
    assert lo < 0 and hi > panel.model.num_codes - 1, (lo, hi)
    gen.speed_slider.setValue(gen.speed_slider.maximum())
    panel.tabs.setCurrentWidget(gen)
    assert gen.play_button.isChecked() and gen.play_button.text() == "Pause"
    qtbot.waitUntil(lambda: gen.frame is not None and gen.frame.finished, timeout=30_000)
    assert gen.bars is not None and gen.decoded_view.has_image()
    assert not gen.play_button.isChecked() and gen.play_button.text() == "Play"  # finished: not "Pause"
    finished = gen.frame
    panel.tabs.setCurrentWidget(panel.usage)
    panel.tabs.setCurrentWidget(gen)  # once only: shown again, it keeps the finished run
    qtbot.wait(100)
    assert gen.frame is finished and not gen.play_button.isChecked()
    panel.shutdown()


def test_generation_draws_one_code_per_step_and_decodes_beside_it(qtbot, runs):
    panel = make_panel(qtbot, runs["mnist_prior"])
    assert "code NLL (exact)" in panel.info.text() and "bits per code" in panel.info.text()
    gen = panel.generation
    pause_autoplay(gen)
    gen.n_spin.setValue(2)
    model = panel.model
    before = None
    for k in range(1, 10):
        with qtbot.waitSignal(gen.frame_shown, timeout=10_000):
            gen.step_button.click()
        data = gen.frame.data
        assert gen.frame.index == k and int(data.drawn.sum()) == k
        assert data.position == divmod(k - 1, 7)
        assert data.decoded.shape == (2, 1, 28, 28) and gen.decoded_view.has_image()
        assert np.isclose(data.probs.sum(1), 1, atol=1e-4).all() and gen.bars is not None
        if before is not None:  # only the newly drawn cell changed in the code maps
            assert (data.codes != before.codes)[:, ~before.drawn].sum() <= 2
            assert (data.codes == before.codes)[:, before.drawn].all()
        before = data
    # The steps are the model's own draws for this seed: finishing the run gives the model's grids.
    gen.speed_slider.setValue(gen.speed_slider.maximum())
    gen.play_button.setChecked(True)
    qtbot.waitUntil(lambda: gen.frame is not None and gen.frame.finished, timeout=30_000)
    labels = gen.labels()
    expected = list(model.generate_code_steps(2, torch.Generator().manual_seed(0), labels=labels))[-1].codes
    assert np.array_equal(gen.frame.data.codes, expected.numpy())
    assert gen.frame.index == gen.frame.total == 49
    panel.shutdown()


def test_code_usage_compares_the_data_with_the_prior_samples(qtbot, runs):
    panel = make_panel(qtbot, runs["mnist_prior"])
    tab = panel.usage
    assert tab.data_usage is not None and tab.data_usage.sum() == len(panel.loaded.examples) * 49
    assert "data:" in tab.message.text() and "perplexity" in tab.message.text()
    tab.n_spin.setValue(16)
    with qtbot.waitSignal(tab.sampled, timeout=30_000):
        tab.run_button.click()
    assert tab.prior_usage.sum() == 16 * 49 and "total variation" in tab.message.text()
    panel.shutdown()


def test_completion_keeps_the_top_code_rows(qtbot, runs):
    panel = make_panel(qtbot, runs["mnist_prior"])
    tab = panel.completion
    tab.rows_spin.setValue(3)
    tab.count_spin.setValue(2)
    tab.per_spin.setValue(3)
    with qtbot.waitSignal(tab.completed, timeout=30_000):
        tab.run_button.click()
    pictures = tab.result
    assert pictures.shape == (2, 6, 1, 28, 28) and tab.view.has_image()
    # The completions keep the image's top three code rows: decoded, their top rows are close to the reconstruction's.
    recon, done = pictures[:, 1], pictures[:, 3:]
    top = slice(0, 4)  # the decoder's two 3 x 3 layers on the code grid reach two codes: code row 0 sees only kept codes
    assert np.abs(done[:, :, :, top] - recon[:, None, :, top]).max() < 1e-4
    assert np.abs(done[:, :, :, 20:] - recon[:, None, :, 20:]).max() > 1e-3  # the rest is drawn
    panel.shutdown()


def test_the_code_prior_tabs_fit_a_laptop_screen(qtbot, settings, tmp_path, monkeypatch, runs):
    """The layout check of every other panel (tests/ui/test_layout_fits.py) on the Code prior tab at 1366x768."""
    from genstudio.ui.main_window import MainWindow
    from tests.ui.test_layout_fits import walk_tabs

    monkeypatch.setattr(MainWindow, "COMPACT_BELOW", 1367)
    window = MainWindow(settings=settings, runs_root=tmp_path / "runs")
    qtbot.addWidget(window)
    window.resize(1366, 768)
    window.show()
    try:
        assert window.open_run(runs["mnist_prior"])
        qtbot.wait(400)
        seen: list[str] = []
        problems = walk_tabs(qtbot, window, seen)
        assert {"Code prior / Generation", "Code prior / Code usage", "Code prior / Completion"} <= set(seen), seen
        assert not problems, "\n".join(dict.fromkeys(problems))
    finally:
        window.shutdown(30_000)


@pytest.mark.skipif(not os.environ.get("GENSTUDIO_SCREENSHOTS"), reason="writes screenshots when GENSTUDIO_SCREENSHOTS names a folder")
def test_screenshots(qtbot, runs):
    from pathlib import Path

    out = Path(os.environ["GENSTUDIO_SCREENSHOTS"])
    out.mkdir(parents=True, exist_ok=True)
    run = Path(os.environ.get("GENSTUDIO_VQ_PRIOR_RUN", runs["mnist_prior"]))
    panel = make_panel(qtbot, run)
    panel.resize(1366, 768)
    gen = panel.generation
    pause_autoplay(gen)
    for _ in range(30):
        with qtbot.waitSignal(gen.frame_shown, timeout=10_000):
            gen.step_button.click()
    panel.grab().save(str(out / "vq_prior_generation.png"))
    panel.tabs.setCurrentWidget(panel.usage)
    with qtbot.waitSignal(panel.usage.sampled, timeout=120_000):
        panel.usage.run_button.click()
    panel.grab().save(str(out / "vq_prior_usage.png"))
    panel.tabs.setCurrentWidget(panel.completion)
    with qtbot.waitSignal(panel.completion.completed, timeout=120_000):
        panel.completion.run_button.click()
    panel.grab().save(str(out / "vq_prior_completion.png"))
    panel.shutdown()
