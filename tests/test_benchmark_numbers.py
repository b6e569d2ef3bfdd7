"""Every benchmark table in README.md and benchmarks/RESULTS*.md matches the results file it comes from.

``benchmarks/report.py`` renders each marked table (``<!-- table:NAME -->`` ...
``<!-- /table -->``) from ``benchmarks/results/*.json`` and lists the sentences
of prose that quote a results file (``facts()``); these tests re-render and
compare, so a hand-edited cell, a re-measured file not rendered again, or a
quoted number that drifted fails here. ``python benchmarks/report.py`` fixes
the tables; prose is fixed by hand.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def report():
    sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location("bench_report_numbers", BENCHMARKS / "report.py")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(BENCHMARKS))


def _blocks(report, name):
    return [(m.group(1), m.group(0)) for m in report.BLOCK.finditer(report.DOCUMENTS[name].read_text())]


@pytest.mark.parametrize("document", ["README.md", "RESULTS.md", "RESULTS_ui.md"])
def test_every_marked_table_matches_its_results_file(report, document):
    for name, block in _blocks(report, document):
        assert report.render(block) == block, f"{document}: table {name} differs from its results file; run python benchmarks/report.py"


def test_the_documents_mark_every_table_the_renderer_knows(report):
    marked = [name for doc in report.DOCUMENTS for name, _ in _blocks(report, doc)]
    assert sorted(marked) == sorted(report.TABLES), "each renderer's table appears exactly once"


@pytest.mark.parametrize("document", ["README.md", "RESULTS.md", "RESULTS_ui.md"])
def test_numbers_quoted_in_prose_match_the_results_files(report, document):
    words = " ".join(report.DOCUMENTS[document].read_text().split())
    missing = [fact for fact in report.facts()[document] if " ".join(fact.split()) not in words]
    assert not missing, f"{document} does not say: {missing}"


def test_no_table_of_results_sits_outside_the_markers(report):
    # A results table pasted by hand (outside any marker) would never be checked: every Markdown table in
    # RESULTS*.md is inside a marked block.
    for document in ("RESULTS.md", "RESULTS_ui.md"):
        text = report.BLOCK.sub("", report.DOCUMENTS[document].read_text())
        stray = [line for line in text.splitlines() if line.startswith("|---")]
        assert not stray, f"{document} has a table outside <!-- table:... --> markers"


def test_kid_is_labelled_as_genstudio_eval_prints_it(report):
    text = report.DOCUMENTS["RESULTS.md"].read_text()
    assert "x1000" not in text and "×1000" not in text  # the values are not scaled
    kid = [p["kid"] for r in report.load("time_to_quality")["rows"] for p in r["points"] if "kid" in p]
    assert any(k > 1 for k in kid)  # what the label says: raw squared distances, not multiplied by 1000 anywhere
    assert "KID not scaled" in text


def test_every_time_to_quality_model_has_its_family_and_place(report):
    """A model measured but missing from the report's maps had a blank family cell and sorted last (glow did)."""
    from genstudio.core.registry import get_model_class

    label = {"adversarial": "GAN"}
    for stem in ("time_to_quality", "time_to_quality_30min"):
        for row in json.loads((BENCHMARKS / "results" / f"{stem}.json").read_text())["rows"]:
            family = get_model_class(row["model"]).family
            assert report.family_of(row["model"]) == label.get(family, family), row["model"]
            assert row["model"] in report.TTQ_ORDER, row["model"]


def test_every_row_names_its_machine(report):
    for path in sorted(report.RESULTS.glob("*.json")):
        data = json.loads(path.read_text())
        assert data.get("machine") or data.get("machine_info"), f"{path.name} names no machine"
        for row in data.get("rows", []):
            assert row.get("machine"), f"{path.name}: a row has no machine: {row.get('model')}"


def test_a_changed_cell_or_number_is_caught(report, tmp_path, monkeypatch):
    # The check itself must fail on a broken document: alter one table cell and one quoted number.
    text = report.DOCUMENTS["RESULTS.md"].read_text()
    cell = re.search(r"\| dcgan[^|]* \| mnist5k \| ([\d,]+) \|", text)  # "dcgan (2026-12-04)" once a model has rows of two dates
    assert cell, "the time-to-quality table lists dcgan on mnist5k"
    broken = tmp_path / "RESULTS.md"
    broken.write_text(text.replace(cell.group(0), cell.group(0).replace(cell.group(1), "1,234,567")))
    monkeypatch.setitem(report.DOCUMENTS, "RESULTS.md", broken)
    assert any("RESULTS.md: tables time_to_quality" in p for p in report.problems())
    fact = report.facts()["RESULTS.md"][1]
    assert fact in text
    broken.write_text(text.replace(fact, fact.replace("after one minute", "after two minutes")))
    assert any("does not say" in p for p in report.problems())


def test_rows_of_two_machines_never_share_a_table(report, monkeypatch):
    rows = [{"model": "vae", "dataset": "d", "sampler": "default", "n": 4, "samples_per_s": 1.0, "nfe": 1, "ms_per_nfe_batch": 1.0, "machine": m}
            for m in ("cpu A", "cpu B")]
    monkeypatch.setattr(report, "load", lambda name: {"rows": rows})
    out = report.sampling_speed()
    assert out.count("| model |") == 2 and "Machine: cpu A" in out and "Machine: cpu B" in out
    rows[1]["machine"] = None
    assert "machine unknown (not recorded)" in report.sampling_speed()  # labelled, never guessed


def test_saved_rows_carry_the_machine_they_ran_on(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import bench_common

    path = tmp_path / "r.json"
    path.write_text(json.dumps({"machine": "new cpu", "rows": [{"model": "a", "v": 1, "machine": "old cpu"}, {"model": "b", "v": 2, "machine": "old cpu"}]}))
    rows = bench_common.save_results(path, [{"model": "b", "v": 3}], key=("model",))
    kept, new = rows
    assert kept == {"model": "a", "v": 1, "machine": "old cpu"}  # a kept row keeps its own machine
    assert new["v"] == 3 and new["machine"] == bench_common.machine_line()
    assert json.loads(path.read_text())["rows"] == rows


def test_the_spread_of_the_last_checkpoints_averages_several_draws(report, monkeypatch):
    """Issue 21's "last three checkpoints within 20 %" on the mean of several sample draws per checkpoint, the
    final eval reused as the last checkpoint's first draw, and the row's table cell says so."""
    import argparse
    from types import SimpleNamespace

    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location("bench_ttq_spread", BENCHMARKS / "time_to_quality.py")
        ttq = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(ttq)
    finally:
        sys.path.remove(str(BENCHMARKS))
    fids = {(100, 0): 6.0, (100, 1): 5.0, (100, 2): 4.0, (200, 0): 5.0, (200, 1): 4.0, (200, 2): 3.0,
            (300, 1): 5.0, (300, 2): 3.0}
    asked = []

    def fake_eval(run_dir, n, checkpoint, seed, **kw):
        asked.append((checkpoint, seed))
        return {"fid": fids[(checkpoint, seed)]}

    monkeypatch.setattr(ttq, "evaluate_run", fake_eval)
    monkeypatch.setattr(ttq, "RunFolder", lambda path: SimpleNamespace(checkpoints=lambda: [50, 100, 200, 300]))
    args = argparse.Namespace(spread_draws=3, eval_n=500, eval_sampler=None, eval_steps=None)
    spread = ttq.checkpoint_spread(Path("run"), args, {"checkpoint_step": 300, "fid": 4.0})
    assert (300, 0) not in asked and (50, 0) not in asked  # the final eval is reused; only the last three are scored
    assert spread["means"] == pytest.approx([5.0, 4.0, 4.0])
    assert spread["spread"] == pytest.approx(0.25)
    assert spread["draw_sd"] == pytest.approx(1.0)  # each checkpoint's three draws lie 1 apart
    cell = report._ttq_extras({"spread": spread})
    assert cell == ["the last three checkpoints at n=500, 3 sample draws each: mean FID 5, 4, 4 (spread 25%, draws' SD 1)"]
    # 2-D points have no FID: no spread.
    monkeypatch.setattr(ttq, "evaluate_run", lambda *a, **kw: {"mmd2": 0.001})
    assert ttq.checkpoint_spread(Path("run"), args) is None
    assert ttq.checkpoint_spread(Path("run"), argparse.Namespace(**{**vars(args), "spread_draws": 0})) is None
