"""Rows of the compare table, its columns and CSV, and the NFE-vs-quality cache (no Qt)."""

from __future__ import annotations

import csv
import json
import time

import numpy as np
import pytest

from genstudio.core.runs import RunFolder
from genstudio.core.spec import RunSpec
from genstudio.metrics import compare as cmp
from genstudio.metrics import nfe_sweep


def fake_run(root, name, model="toy", dataset="digits", evals=(), val=None, status="completed", step=100, caps=(), grid=True, created=None):
    spec = RunSpec.create(model, dataset, {"steps": step}, {}, {})
    meta = {
        "model": model, "dataset": dataset, "total_steps": step, "device": "cpu", "num_params": 1234,
        "capabilities": list(caps), "family": "diffusion" if "Denoiser" in caps else "test",
        "created": created if created is not None else time.time(),
    }  # fmt: skip
    run = RunFolder.create(root / name, spec, meta)
    run.update_meta(status=status, step=step, wall_time_s=65.0)
    run.append_metrics([{"step": s, "split": "train", "elapsed_s": s / 10, "loss": 10.0 / s} for s in range(10, step + 1, 10)])
    if val is not None:
        run.append_metrics([{"step": step // 2, "split": "val", "elapsed_s": 1.0, **{k: v + 1 for k, v in val.items()}}])
        run.append_metrics([{"step": step, "split": "val", "elapsed_s": 2.0, **val}])
    for e in evals:
        cmp.append_eval(run.path, e)
    if grid:
        from genstudio.core.previews import save_png

        save_png(run.sample_path(step), np.full((12, 12, 3), 200, np.uint8))
    return run


def test_row_prefers_eval_then_validation_log(tmp_path):
    a = fake_run(tmp_path, "a", evals=[{"checkpoint_step": 100, "n": 500, "fid": 99.0}, {"checkpoint_step": 100, "n": 500, "fid": 12.3, "fid_floor": 2.1, "sampling_seconds": 1.5, "nfe": 1}])
    b = fake_run(tmp_path, "b", val={"bpd": 1.25, "loss": 3.0})
    c = fake_run(tmp_path, "c", grid=False)
    cache = cmp.RowCache()
    ra, rb, rc = cache.rows([a, b, c])
    assert ra.source == "eval" and ra.metrics == {"fid": 12.3, "fid_floor": 2.1}  # the newest line wins
    assert ra.sampling_seconds == 1.5 and ra.nfe == 1 and ra.source_text() == "eval @ 100"
    assert rb.source == "val" and rb.source_step == 100 and rb.metrics == {"bits_per_dim": 1.25, "loss": 3.0}
    assert rb.likelihood == "exact"  # from the toy model class: exact_likelihood = True
    assert rc.source == "" and rc.metrics == {} and rc.grid is None
    assert ra.grid == a.sample_path(100) and ra.wall_time_s == 65.0 and ra.num_params == 1234 and ra.status == "completed"


def test_an_eval_at_a_temperature_says_so_and_is_no_score(tmp_path):
    """``genstudio eval --temperature 0.7`` records T: the row names it beside n and the sampler, and T is no metric column."""
    run = fake_run(tmp_path, "t", evals=[{"checkpoint_step": 100, "n": 500, "temperature": 0.7, "fid": 23.6}])
    row = cmp.RowCache().row(run)
    assert row.metrics == {"fid": 23.6}
    assert "temperature 0.7" in row.source_detail


def test_sweep_lines_do_not_replace_the_row_eval_and_cache_rereads(tmp_path):
    run = fake_run(tmp_path, "d", model="ddpm", caps=["Denoiser"], evals=[{"checkpoint_step": 100, "fid": 20.0, "likelihood": "bound", "bits_per_dim": 1.5}])
    cache = cmp.RowCache()
    first = cache.row(run)
    assert first is cache.row(run)  # nothing changed: the cached row
    assert first.is_diffusion and first.likelihood == "bound"
    cmp.append_eval(run.path, {"checkpoint_step": 100, "sampler": "ddim", "steps": 5, "fid": 80.0, "sweep": "nfe"})
    assert cache.row(run).metrics["fid"] == 20.0
    time.sleep(0.01)
    cmp.append_eval(run.path, {"checkpoint_step": 100, "fid": 18.0})
    assert cache.row(run).metrics["fid"] == 18.0


def test_unreadable_meta_is_a_row_with_the_reason(tmp_path):
    run = fake_run(tmp_path, "bad")
    run.meta_path.write_text("{not json")
    row = cmp.RowCache().row(run)
    assert row.status == "unreadable" and "corrupt" in row.error


def test_columns_fold_floors_and_format(tmp_path):
    a = fake_run(tmp_path, "a", evals=[{"checkpoint_step": 100, "fid": 12.3, "fid_floor": 2.1, "kid": 0.01}])
    b = fake_run(tmp_path, "b", val={"bpd": 1.25})
    rows = cmp.RowCache().rows([a, b])
    cols = cmp.build_columns(rows)
    labels = [c.label for c in cols]
    assert labels[: len(cmp.FIXED_COLUMNS)] == [c.label for c in cmp.FIXED_COLUMNS]
    assert labels[-2:] == ["sampling s", "NFE"]
    assert "FID" in labels and "KID" in labels and "bits/dim" in labels and "fid_floor" not in " ".join(labels)
    assert labels.index("FID") < labels.index("KID") < labels.index("bits/dim")
    fid = cols[labels.index("FID")]
    assert cmp.display_text(rows[0], fid) == "12.3 (floor 2.1)"
    assert cmp.display_text(rows[1], fid) == "" and cmp.raw_value(rows[1], fid) is None
    assert cmp.display_text(rows[1], cols[labels.index("bits/dim")]) == "1.25 (exact)"
    assert cmp.display_text(rows[0], cols[labels.index("steps")]) == "100 / 100"
    assert cmp.display_text(rows[0], cols[labels.index("wall time")]) == "1:05"


def test_csv_round_trip(tmp_path):
    a = fake_run(tmp_path, "a", evals=[{"checkpoint_step": 100, "fid": 12.345678, "fid_floor": 2.1, "bits_per_dim": 1.1, "likelihood": "exact", "likelihood_data": "8-bit"}])
    b = fake_run(tmp_path, "b", dataset="mnist5k")
    rows = cmp.RowCache().rows([a, b])
    cols = cmp.build_columns(rows)
    out = cmp.write_csv(tmp_path / "t.csv", rows, cols)
    with open(out, newline="", encoding="utf-8") as f:
        got = list(csv.DictReader(f))
    assert [g["run"] for g in got] == ["a", "b"]
    assert float(got[0]["FID"]) == 12.345678 and float(got[0]["FID floor"]) == 2.1  # full precision, not the display text
    assert got[0]["bits/dim likelihood"] == "exact" and got[1]["bits/dim likelihood"] == ""
    assert got[0]["bits/dim of"] == "8-bit" and got[1]["bits/dim of"] == ""
    assert got[1]["FID"] == "" and got[1]["dataset"] == "mnist5k" and float(got[0]["wall time"]) == 65.0
    with pytest.raises(ValueError, match="folder"):
        cmp.write_csv(tmp_path, rows, cols)


def test_find_runs_accepts_a_run_folder_or_a_folder_of_runs(tmp_path):
    old = fake_run(tmp_path / "root", "old", created=1.0)
    new = fake_run(tmp_path / "root", "new", created=2.0)
    other = fake_run(tmp_path / "elsewhere", "solo", created=3.0)
    found = cmp.find_runs([tmp_path / "root", other.path, tmp_path / "root"])
    assert [r.path.name for r in found] == ["solo", "new", "old"]
    assert cmp.find_runs([tmp_path / "missing"]) == []
    del old, new


def test_parse_steps():
    assert nfe_sweep.parse_steps("100, 5 10;20,,5") == [5, 10, 20, 100]
    with pytest.raises(ValueError, match="whole number"):
        nfe_sweep.parse_steps("5, ten")
    with pytest.raises(ValueError, match="at least 1"):
        nfe_sweep.parse_steps("0")
    with pytest.raises(ValueError, match="at least one"):
        nfe_sweep.parse_steps(" ")


def test_nfe_sweep_is_cached_per_checkpoint(tmp_path):
    run = fake_run(tmp_path, "d", model="ddpm", caps=["Denoiser"])
    calls = []

    def fake_eval(run_dir, n, checkpoint, device, sampler, steps, save, should_stop):
        calls.append(steps)
        assert sampler == "ddim" and save is False and n == 64
        return {"checkpoint_step": 7, "steps": steps, "nfe": steps, "fid": 100.0 / steps, "fid_floor": 1.0}

    for k in (10, 5):
        rec = nfe_sweep.evaluate_nfe_point(run.path, k, 64, "cpu", 7, fake_eval)
        assert rec["sweep"] == "nfe" and rec["sampler"] == "ddim"
    assert nfe_sweep.missing_steps(run.path, [5, 10, 20], 7) == [20]
    assert nfe_sweep.missing_steps(run.path, [5], 8) == [5]  # another checkpoint: not cached
    curve = nfe_sweep.nfe_curve(nfe_sweep.sweep_records(run.path, 7), "fid")
    assert curve.nfe == [5.0, 10.0] and curve.values == [20.0, 10.0] and curve.floor == 1.0
    assert nfe_sweep.sweep_metrics(nfe_sweep.sweep_records(run.path, 7)) == ["fid"]
    assert calls == [10, 5]


def test_reference_values_sit_beside_their_metric(tmp_path):
    run = fake_run(tmp_path, "a", evals=[{"checkpoint_step": 100, "classifier_score": 6.0, "classifier_score_real": 8.5, "precision": 0.7, "precision_floor": 0.9, "kid_std": 0.01, "nll": 80.0, "nll_nats": 80.0, "pr_k": 3}])
    rows = cmp.RowCache().rows([run])
    cols = {c.label: c for c in cmp.build_columns(rows)}
    assert cmp.display_text(rows[0], cols["classifier score"]) == "6 (real 8.5)"
    assert cmp.display_text(rows[0], cols["precision"]) == "0.7 (floor 0.9)"
    assert "kid_std" not in cols and "pr_k" not in cols and "nll" not in cols and "NLL (nats)" in cols
    header, _ = cmp.csv_table(rows, list(cols.values()))
    assert "classifier score real" in header and "precision floor" in header


def test_likelihoods_of_different_data_are_labelled_and_not_ranked_silently(tmp_path):
    eight = fake_run(tmp_path, "flow", evals=[{"checkpoint_step": 100, "bits_per_dim": 2.1, "likelihood": "exact", "likelihood_data": "8-bit"}])
    binar = fake_run(tmp_path, "pixelcnn", evals=[{"checkpoint_step": 100, "bits_per_dim": 0.14, "likelihood": "exact", "likelihood_data": "binarised"}])
    gan = fake_run(tmp_path, "gan", evals=[{"checkpoint_step": 100, "fid": 10.0}])
    rows = cmp.RowCache().rows([eight, binar, gan])
    bpd = next(c for c in cmp.build_columns(rows) if c.metric == "bits_per_dim")
    assert cmp.display_text(rows[0], bpd) == "2.1 (exact; 8-bit)"
    assert cmp.display_text(rows[1], bpd) == "0.14 (exact; binarised)"
    warning = cmp.likelihood_mix_warning(rows)
    assert "8-bit (1)" in warning and "binarised (1)" in warning
    assert cmp.likelihood_mix_warning([rows[0], rows[2]]) == ""  # one kind of data: nothing to warn about
