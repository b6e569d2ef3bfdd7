"""Config fields that name a run (ldm's autoencoder): the combo of fitting runs, Browse…, the checks, and the runs browser's "Use as" action."""

from __future__ import annotations

import json

import pytest

from genstudio.core.config import param, spec_of
from genstudio.core.engine import train
from genstudio.core.spec import RunSpec

RUN = {"batch_size": 16, "steps": 2, "log_every": 1, "sample_every": 0, "preview_every_s": 0, "eval_every": 0, "checkpoint_every": 0, "preview_n": 4}
TINY_VAE = {"channels": 8, "hidden": 16, "latent_dim": 4}


def make_run(root, name, model, dataset, model_over=None, data_over=None):
    out = root / name
    events = list(train(RunSpec.create(model, dataset, RUN, model_over or {}, data_over or {}), out))
    assert events[-1].status == "completed", events[-1].message
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A runs folder with: a vae on digits (fits), a vae on moons (other shape), a gan on digits (cannot encode), a vae still running."""
    root = tmp_path_factory.mktemp("runs")
    vae = make_run(root, "vae-digits", "vae", "digits", TINY_VAE)
    moons = make_run(root, "vae-moons", "vae", "moons", {"hidden": 16, "latent_dim": 2}, {"n_points": 200})
    gan = make_run(root, "gan-digits", "gan", "digits", {"hidden": 16})
    live = make_run(root, "vae-live", "vae", "digits", TINY_VAE)
    meta = json.loads((live / "meta.json").read_text())
    (live / "meta.json").write_text(json.dumps({**meta, "status": "running"}))
    return {"root": root, "vae": vae, "moons": moons, "gan": gan, "live": live}


def ldm_form(qtbot, context):
    from genstudio.models.diffusion.ldm import LDMConfig
    from genstudio.ui.config_form import ConfigForm

    form = ConfigForm(LDMConfig)
    qtbot.addWidget(form)
    form.set_run_context(context)
    return form, form.fields["autoencoder_run"]


def test_param_marks_run_fields():
    from genstudio.models.diffusion.ldm import LDMConfig

    s = spec_of(LDMConfig, "autoencoder_run")
    assert s.kind == "run" and "vae" in s.accepts and "gan" not in s.accepts and "cvae" not in s.accepts
    assert spec_of(LDMConfig, "lr").kind == "value" and spec_of(LDMConfig, "lr").accepts is None
    with pytest.raises(ValueError, match="param kind must be one of value, run"):
        param("", "x", kind="folder")
    with pytest.raises(ValueError, match="only applies to kind='run'"):
        param(1, "x", accepts=("vae",))


def test_combo_lists_finished_fitting_runs_and_checks_the_choice(qtbot, runs):
    from genstudio.ui.run_field import BROWSE, RunContext

    form, field = ldm_form(qtbot, RunContext(runs["root"], "digits", (1, 8, 8)))
    combo = field.widget
    items = [combo.itemData(i) for i in range(combo.count())]
    assert items == ["", str(runs["vae"]), BROWSE]  # not the moons vae, the gan, nor the running vae
    assert "vae-digits · vae on digits, step 2" == combo.itemText(1)
    # Nothing chosen yet: the form says what to do and is invalid.
    assert not form.is_valid() and "needs a run: choose a finished run of vae" in form.errors()["autoencoder_run"]
    combo.setCurrentIndex(1)
    combo.activated.emit(1)
    assert form.is_valid() and form.values()["autoencoder_run"] == str(runs["vae"])

    # Runs that do not fit, as Browse… or a preset could bring them: each with its reason.
    form.set_values({"autoencoder_run": str(runs["moons"])})
    err = form.errors()["autoencoder_run"]
    assert "'vae-moons' was trained on moons (2)" in err and "this run's data is digits (1 x 8 x 8)" in err
    assert combo.currentText() == str(runs["moons"])  # the chosen folder is shown even though it is not in the list
    form.set_values({"autoencoder_run": str(runs["gan"])})
    assert "'gan-digits' is a gan run; choose a run of vae" in form.errors()["autoencoder_run"]
    form.set_values({"autoencoder_run": str(runs["root"] / "nowhere")})
    assert "does not exist" in form.errors()["autoencoder_run"]
    form.set_values({"autoencoder_run": str(runs["root"])})
    assert "is not a run folder" in form.errors()["autoencoder_run"]

    # The same run fits a form whose dataset has its shape, and the moons vae does not appear there.
    form.set_run_context(RunContext(runs["root"], "mnist5k", (1, 28, 28)))
    assert [combo.itemData(i) for i in range(combo.count())][1:-1] == [str(runs["root"])]  # only the current (bad) value
    form.set_values({"autoencoder_run": str(runs["vae"])})
    assert "this run's data is mnist5k (1 x 28 x 28)" in form.errors()["autoencoder_run"]


def test_browse_picks_any_folder_and_cancel_keeps_the_choice(qtbot, runs, monkeypatch):
    from genstudio.ui import config_form
    from genstudio.ui.run_field import RunContext

    form, field = ldm_form(qtbot, RunContext(runs["root"], "digits", (1, 8, 8)))
    combo = field.widget
    asked = []

    def dialog(parent, title, start):
        asked.append((title, start))
        return answers.pop(0)

    monkeypatch.setattr(config_form.QFileDialog, "getExistingDirectory", staticmethod(dialog))
    answers = [str(runs["vae"]), ""]
    browse = combo.count() - 1
    combo.setCurrentIndex(browse)
    combo.activated.emit(browse)
    assert asked[0] == ("Choose a run folder for autoencoder run", str(runs["root"]))
    assert form.values()["autoencoder_run"] == str(runs["vae"]) and combo.currentData() == str(runs["vae"])
    combo.setCurrentIndex(combo.count() - 1)
    combo.activated.emit(combo.count() - 1)  # cancelled
    assert form.values()["autoencoder_run"] == str(runs["vae"]) and combo.currentData() == str(runs["vae"])
    # The list is re-read when it opens: a run that finished meanwhile appears.
    live_meta = runs["live"] / "meta.json"
    meta = json.loads(live_meta.read_text())
    live_meta.write_text(json.dumps({**meta, "status": "completed"}))
    try:
        combo.showPopup()
        assert combo.findData(str(runs["live"])) > 0
        combo.hidePopup()
    finally:
        live_meta.write_text(json.dumps(meta))


def test_runs_browser_uses_a_vae_run_as_the_ldm_autoencoder(window, qtbot, tmp_path):
    from genstudio.ui.model_panel import run_field_uses

    assert ("ldm", "autoencoder_run", "Use as autoencoder for ldm") in run_field_uses("vae")
    assert not any(mid == "ldm" for mid, _, _ in run_field_uses("gan"))
    vae = make_run(tmp_path / "runs", "vae-digits", "vae", "digits", TINY_VAE)
    window.dataset_panel.select("digits")
    qtbot.waitUntil(window.dataset_panel.is_usable, timeout=30_000)
    browser = window.runs_browser
    browser.refresh()
    row = [str(r.path) for r in browser.runs()].index(str(vae))
    menu = browser.context_menu(row)
    actions = {a.text(): a for a in menu.actions()}
    assert "Open" in actions and actions["Use as autoencoder for ldm"].isEnabled()
    actions["Use as autoencoder for ldm"].trigger()
    panel = window.model_panel
    assert panel.model_id() == "ldm" and panel.family_box.currentData() == "diffusion"
    field = panel.model_form.fields["autoencoder_run"]
    assert field.widget.currentData() == str(vae) and field.widget.findData(str(vae)) == 1  # listed, and chosen
    qtbot.waitUntil(window.act_train.isEnabled, timeout=5_000)
    assert panel.is_valid() and not panel.problems()
    # Another runs folder: the run field lists its runs instead.
    browser.set_root(tmp_path / "elsewhere")
    assert field.context.root == tmp_path / "elsewhere" and field.widget.findData(str(vae)) == 1  # kept: it is the chosen value
    assert field.widget.count() == 3
