"""The benchmark tables of README.md and benchmarks/RESULTS*.md, rendered from the results files.

Each table that comes from a results file sits between two marker comments in
its Markdown file::

    <!-- table:train_speed -->
    | model | ... |
    <!-- /table -->

and ``TABLES`` maps the name to a function that renders it from
``benchmarks/results/*.json``. ``FACTS`` lists the sentences of prose that
quote a results file; each must appear, word for word, in its document.
``tests/test_benchmark_numbers.py`` checks both, so a number in the documents
cannot drift from the file it came from, and a results file re-measured shows
up as a failing test until the documents are rendered again.

Every table names the machine its rows ran on (each row's ``machine``, written
by ``bench_common.save_results``); rows of different machines get separate
tables.

Usage: python benchmarks/report.py            # rewrite the marked tables in place
       python benchmarks/report.py --check    # exit 1 and name what differs
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import re
import sys
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
DOCUMENTS = {"README.md": ROOT / "README.md", "RESULTS.md": HERE / "RESULTS.md", "RESULTS_ui.md": HERE / "RESULTS_ui.md"}
BLOCK = re.compile(r"<!-- table:([\w-]+) -->\n(.*?)<!-- /table -->", re.DOTALL)


# -- formatting ------------------------------------------------------------------------------------


def load(name: str) -> dict[str, Any]:
    return json.loads((RESULTS / f"{name}.json").read_text())


def num(x: float | None, digits: int = 3) -> str:
    """``digits`` significant digits; whole thousands with separators; exponents without padding."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if abs(x) >= 10 ** digits:
        return f"{round(x):,}"
    text = f"{x:.{digits - 1}e}" if 0 < abs(x) < 1e-3 else f"{x:.{digits}g}"
    return re.sub(r"e([+-])0*(\d)", lambda m: f"e{'' if m.group(1) == '+' else '-'}{m.group(2)}", text)


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def by_machine(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Rows grouped by the machine they ran on, in the order the machines first appear."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(r.get("machine") or "machine unknown (not recorded)", []).append(r)
    return groups


def dates(rows: list[dict[str, Any]], default: str = "") -> str:
    return ", ".join(sorted({str(r.get("date") or default) for r in rows} - {""})) or "date not recorded"


# -- RESULTS.md ------------------------------------------------------------------------------------


def train_speed() -> str:
    d = load("train_speed")
    out = []
    for machine, rows in by_machine(d["rows"]).items():
        out.append(f"Machine: {machine}; {dates(rows, d.get('date', ''))}; {d['steps']} steps, median of {d['repeats']} interleaved repeats.\n\n")
        out.append(table(
            ["model", "threads", "plain step/s", "engine step/s", "ratio", "engine, default run settings", "ratio"],
            [[r["model"], str(r["threads"]), f"{r['plain_steps_per_s']:.2f}", f"{r['engine_steps_per_s']:.2f}", f"{r['ratio']:.3f}",
              f"{r['engine_defaults_steps_per_s']:.2f}", f"{r['ratio_defaults']:.3f}"] for r in rows]))
    return "".join(out)


def engine_overhead() -> str:
    d = load("engine_overhead")
    rows = {(r["model"], r["threads"]): r for r in d["rows"]}
    models = list(dict.fromkeys(r["model"] for r in d["rows"]))
    machine = d.get("machine", "not recorded")
    note = f" ({d['machine_note']})" if d.get("machine_note") else ""
    return f"Machine: {machine}{note}.\n\n" + table(["", "ms per step"], [
        ["engine's fixed work per step (batch indexing and conversion, finiteness bookkeeping, metrics, pause/stop token, logging; "
         f"start-up amortised over {d['steps']:,} steps)", f"**{d['overhead_ms_per_step']:.2f}**"],
        [" / ".join(models) + " plain step, 1 thread (from `train_speed.json`)", " / ".join(num(rows[m, 1]["step_ms"]) for m in models)],
        ["lowest ratio this overhead allows, 1 thread (2 threads)",
         ", ".join(f"{m} {rows[m, 1]['ratio_bound']:.4f} ({rows[m, 2]['ratio_bound']:.4f})" for m in models)],
    ])


FAMILY_WORDS = {"adversarial": "GAN"}  # the table's word where it differs from the registry's family


def family_of(model_id: str) -> str:
    """The family the model's class declares, in the table's words (a hand-kept map had left Glow's cell blank).

    Imported here, not at the top: the other tables render without loading torch and the models.
    """
    from genstudio.core.registry import get_model_class

    family = get_model_class(model_id).family
    return FAMILY_WORDS.get(family, family)


TTQ_ORDER = ["dcgan", "wgan", "sgan", "vae", "ddpm", "gated-pixelcnn", "pixelcnn++", "vq-prior", "realnvp", "glow", "maf", "iaf", "gan"]


def _ttq_extras(r: dict[str, Any]) -> list[str]:
    """What a row measured beyond the curve: the last checkpoint's held-out metrics and n=500 eval, and the run it was built on."""
    also = []
    ev, held = r.get("eval"), r.get("held_out")
    if ev and "fid" in ev:
        sampler = f", {ev['sampler']} {ev['steps']}" if ev.get("sampler") else ""
        also.append(f"FID at n={ev['n']}{sampler}: {num(ev['fid'])} (floor {num(ev['fid_floor'])})")
    if held:
        what = []
        if "bpd" in held and held.get("likelihood_data") == "VQ codes":  # a likelihood of the code maps, not of the pixels
            what.append(f"{num(held['bpd'])} bits per code position")
        elif "bpd" in held:
            what.append(f"{num(held['bpd'])} bits/dim ({held.get('likelihood', 'bound')}, {held.get('likelihood_data') or 'pixels'})")
        if "accuracy" in held:
            what.append(f"classifier accuracy {held['accuracy']:.1%}")
        if what:
            also.append(f"{', '.join(what)} on {held['n']} validation digits")
    at = r.get("eval_at")
    if at and "fid" in at:
        sampler = f", {at['sampler']} {at['steps']}" if at.get("sampler") else ""
        also.append(f"at {num(at['minutes'])} min (step {at['checkpoint_step']:,}, {at['train_s'] / 60:.1f} min): FID at n={at['n']}{sampler} "
                    f"{num(at['fid'])}" + (f", {num(at['bpd'])} bits/dim" if "bpd" in at else ""))
    spread = r.get("spread")
    if spread:
        sd = f", draws' SD {num(spread['draw_sd'], 2)}" if math.isfinite(spread.get("draw_sd", math.nan)) else ""
        also.append(f"the last three checkpoints at n={spread['n']}, {spread['draws']} sample draws each: mean FID "
                    f"{', '.join(num(m) for m in spread['means'])} (spread {spread['spread']:.0%}{sd})")
    pre = r.get("prerequisite")
    if pre:
        also.append(f"on a {pre['model']} of {pre['steps']:,} steps trained first ({pre['wall_s'] / 60:.1f} min, not counted)")
    if r.get("scored_steps"):
        also.append(f"only the checkpoints of steps {', '.join(f'{v:,}' for v in r['scored_steps'])} scored (sampling is slow)")
    if r.get("scored_every"):
        also.append(f"1 checkpoint in {r['scored_every']} scored, and the last (sampling is slow)")
    return also


def _ttq_load(r: dict[str, Any]) -> str:
    """The 1-minute load average while the row trained: the run itself is about 1 (one torch thread); more is other work."""
    load = r.get("load_1min")
    return f"{load['mean']:.1f} ({load['max']:.1f})" if load else "not recorded"


def reference_of(point: dict[str, Any]) -> str:
    """The real data a score was measured against (metrics/quality.py REFERENCE_DATA); rows scored before it was recorded used the data as loaded."""
    data = point.get("reference_data", "as loaded")
    return "grey digits" if data == "as loaded" and "fid" in point else data


def time_to_quality(d: dict[str, Any] | None = None) -> str:
    """One table per machine: the metric at 1/4, 1/2 and the end of the run, the best point, the floor.

    ``d`` is a results file's content (default ``results/time_to_quality.json``).
    """
    d = d or load("time_to_quality")
    rows = sorted(d["rows"], key=lambda r: (TTQ_ORDER.index(r["model"]) if r["model"] in TTQ_ORDER else 99, r["model"]))
    out = []
    for machine, group in by_machine(rows).items():
        autocast = sorted({(r.get("speedups") or {}).get("autocast", "not recorded") for r in group})
        out.append(f"Machine: {machine}; {dates(group)}; autocast {', '.join(autocast)}.\n\n")
        body = []
        for r in group:
            pts = r["points"]
            metric = "fid" if "fid" in pts[-1] else "mmd2"

            def at(frac: float) -> str:
                target = pts[-1]["train_s"] * frac
                p = min(pts, key=lambda q: abs(q["train_s"] - target))
                return f"{num(p[metric])} ({p['train_s'] / 60:.1f} min)"

            end = pts[-1]
            best = min(pts, key=lambda q: q[metric])
            also = []
            if "kid" in end:
                also.append(f"KID {num(end['kid'])} (floor {num(end['kid_floor'], 2)})")
            if "modes_covered" in end:
                also.append(f"{end['modes_covered']:.0f}/8 modes, {100 * end['high_quality_fraction']:.0f}% within 3 sigma")
            if metric == "fid" and best is not end:
                also.append(f"best: FID {num(best['fid'])} at {best['train_s'] / 60:.1f} min")
            also += _ttq_extras(r)
            # A model measured again (new defaults) keeps its earlier row: the date tells them apart.
            again = sum(q["model"] == r["model"] and q["dataset"] == r["dataset"] for q in group) > 1
            settings = [s for s in (r.get("variant"), f"{r['preset']} preset" if r.get("preset") else None, r["date"] if again else None) if s]
            name = r["model"] + (f" ({', '.join(settings)})" if settings else "")
            body.append([family_of(r["model"]), name, r["dataset"], str(r.get("seed", 0)), f"{r['steps']:,}", _ttq_load(r),
                         {"fid": "FID", "mmd2": "MMD²"}[metric], at(0.25), at(0.5), f"**{num(end[metric])}**", num(end[metric + "_floor"]),
                         reference_of(end), "; ".join(also)])
        out.append(table(["family", "model", "dataset", "seed", f"steps in {num(group[0].get('minutes', 10))} min",
                          "load while training: mean (max)", "metric", "at 1/4 of the time", "at 1/2", "at the end", "floor", "reference",
                          "also at the end"], body))
        out.append("\n")
    return "".join(out).rstrip("\n") + "\n"


def _speedup_rows(machine: str, variants: list[str], with_loss: bool) -> list[list[str]]:
    rows = [r for r in load("speedups")["rows"] if r.get("machine") == machine and r["threads"] == 1]
    out = []
    for model in dict.fromkeys(r["model"] for r in rows):
        got = {r["variant"]: r for r in rows if r["model"] == model}
        ratios = {v: got[v]["ratio_to_base"] for v in variants if v in got}
        best = max(ratios, key=ratios.get)
        cells = [model, num(got["base"]["steps_per_s"])]
        cells += [("**{}x**" if v == best and ratios[v] > 1 else "{}x").format(f"{ratios[v]:.2f}") if v in ratios else "not measured" for v in variants]
        if with_loss:
            loss = [got[v].get("loss_end") for v in ("base", "bf16")]
            cells.append("—" if any(x is None or math.isnan(x) for x in loss) else " / ".join(num(x, 4) for x in loss))
        out.append(cells)
    return out


SPEEDUP_MACHINES = {"speedups_avx2": "x86_64 2 cores, torch 2.15.0+cu132, AVX2, native bf16: False",
                    "speedups_bf16": "x86_64 2 cores, torch 2.14.1+cu130, AVX512, native bf16: True"}


def speedups_avx2() -> str:
    machine = SPEEDUP_MACHINES["speedups_avx2"]
    return f"Machine: {machine}.\n\n" + table(["model", "fp32 NCHW step/s", "channels-last", "bf16 autocast"],
                                              _speedup_rows(machine, ["channels_last", "bf16"], with_loss=False))


def speedups_bf16() -> str:
    machine = SPEEDUP_MACHINES["speedups_bf16"]
    return f"Machine: {machine}.\n\n" + table(
        ["model", "fp32 NCHW step/s", "channels-last", "bf16 autocast", "both", "loss fp32 / bf16"],
        _speedup_rows(machine, ["channels_last", "bf16", "channels_last_bf16"], with_loss=True))


def sampling_speed() -> str:
    d = load("sampling_speed")
    out = []
    for machine, rows in by_machine(sorted(d["rows"], key=lambda r: (r["model"], r["sampler"]))).items():
        out.append(f"Machine: {machine}; {dates(rows)}.\n\n")
        out.append(table(["model", "dataset", "sampler", "samples/s", "NFE per sample", f"ms per NFE (batch of {rows[0]['n']})"],
                         [[r["model"], r["dataset"], r["sampler"], num(r["samples_per_s"]), str(r["nfe"]), f"{r['ms_per_nfe_batch']:.1f}"]
                          for r in rows]))
        out.append("\n")
    return "".join(out).rstrip("\n") + "\n"


def threads() -> str:
    d = load("train_speed_threads")
    rows = {(r["model"], r["threads"]): r["plain_steps_per_s"] for r in d["rows"]}
    models = list(dict.fromkeys(r["model"] for r in d["rows"]))
    gains = [rows[m, 2] / rows[m, 1] for m in models]
    return f"Machine: {d['machine']}; {d['date']}; load not recorded.\n\n" + table(["condition", "model", "1 thread", "2 threads"], [[
        "plain loop, `train_speed.py` (2026-11-21)", " / ".join(models) + " step/s",
        " / ".join(num(rows[m, 1]) for m in models),
        " / ".join(num(rows[m, 2]) for m in models) + f" ({min(gains):.1f}-{max(gains):.1f}x)"]])


def distributed_throughput() -> str:
    d = load("distributed_throughput")
    info = d["machine_info"]
    out = [f"Machine: {d['machine']} ({info['cpu']}); {d['date']}; `{d['command']}` under `nice -n {d['nice']}`; "
           f"{d['model']} on {d['dataset']}, {d['steps']} steps, medians of {len(d['rows'][0]['repeats'])} alternated repeats.\n\n"]
    out.append(table(
        ["processes x threads", "global batch", "examples/s (training, median)", "examples/s (whole command)", f"loss at step {d['steps']}",
         "mean loss, last 100 steps", "cores other processes kept busy", "examples/s of each repeat"],
        [[f"{r['processes']} x {r['threads_per_process']}", str(r["global_batch"]), num(r["examples_per_s"]), num(r["examples_per_s_wall"]),
          f"{r['loss_last']:.1f}", f"{r['loss_last_100_steps']:.1f}", f"{r['other_cores_busy']:.2f}",
          ", ".join(num(x["examples_per_s"]) for x in r["repeats"])] for r in d["rows"]]))
    return "".join(out)


def reliability() -> str:
    """The fault-injection table, from results/reliability.json (its own script's renderer when it has one)."""
    path = RESULTS / "reliability.json"
    if not path.is_file():
        return "Not measured yet: `benchmarks/reliability.py` writes `results/reliability.json`.\n"
    script = HERE / "reliability.py"
    if script.is_file():
        spec = importlib.util.spec_from_file_location("bench_reliability_report", script)
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(HERE))
        try:
            spec.loader.exec_module(module)
        finally:
            sys.path.remove(str(HERE))
        if callable(getattr(module, "markdown_table", None)):
            return module.markdown_table(json.loads(path.read_text()))
    d = json.loads(path.read_text())
    rows = d.get("rows", [])
    keys = list(dict.fromkeys(k for r in rows for k in r if not isinstance(r[k], (dict, list))))
    return f"Machine: {d.get('machine', 'not recorded')}; {d.get('date', 'date not recorded')}.\n\n" + table(
        keys, [[num(r[k]) if isinstance(r.get(k), float) else str(r.get(k, "")) for k in keys] for r in rows])


# -- RESULTS_ui.md ---------------------------------------------------------------------------------


def ui() -> str:
    d = load("ui")
    m, ev, sp, cr = d["machine"], d["event_loop_latency"], d["steps_per_s"], d["curve_redraw"]
    pairs = ", ".join(f"{x:.2f}" for x in sp["pair_ratios"])
    return (f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, torch {m['torch']}, Qt {m['qt_platform']}; "
            f"load average (1 min) {d['load_average_at_start'][0]:.1f} at the start, {d['load_average_at_end'][0]:.1f} at the end.\n\n") + table(
        ["what", "measured", "target"], [
            [f"event-loop latency while {ev['config']['model'].upper()} trains on {ev['config']['dataset']} (20 ms timer's lateness, "
             f"{ev['seconds']:.0f} s, previews every {ev['config']['preview_every_s']:.0f} s)",
             f"p50 {ev['p50_ms']:.1f} ms, **p95 {ev['p95_ms']:.1f} ms, worst {ev['max_ms']:.0f} ms**", ev["target"]],
            *([["Python's cycle collections on the GUI thread meanwhile (generations 0 / 1 / 2; the collector runs there only)",
                f"{' / '.join(map(str, ev['gc_on_gui_thread']['collections_per_generation']))}, longest "
                f"{ev['gc_on_gui_thread']['longest_ms']:.1f} ms", "—"]] if "gc_on_gui_thread" in ev else []),
            [f"steps/s, window vs `genstudio train` ({sp['config']['model'].upper()}, {sp['config']['dataset']}, batch {sp['config']['batch_size']}, "
             f"{sp['config']['steps']} steps, same torch threads = {sp['window_threads']}), median of {len(sp['pair_ratios'])} alternated pairs",
             f"**{sp['ratio_window_over_cli_same_threads']:.2f}** (pairs {pairs})", "≥ " + sp["target"].split(">=")[-1].strip()],
            ["same, against `genstudio train` with its default threads",
             f"{sp['ratio_window_over_cli_default_threads']:.1f} (the CLI's default threads thrash on a shared 2-core box: "
             f"{sp['cli_default_threads']:.2f} steps/s)", "—"],
            [f"curve view redraw, {cr['curves']} curves × {cr['points_per_curve']:,} points, 10 points appended, `redraw()` + synchronous repaint",
             f"**median {cr['live_append_redraw_ms_median']:.1f} ms**, p95 {cr['live_append_redraw_ms_p95']:.1f} ms", "< 16 ms"],
            ["same after a smoothing change (every EMA recomputed)", f"median {cr['smoothing_change_redraw_ms_median']:.1f} ms", "—"],
        ]) + gan_sandbox_table(d.get("gan_sandbox_latency"))


def gan_sandbox_table(g: dict | None) -> str:
    """The GAN tab's sandbox playing at full speed, its steps on the GUI thread (before) and on its worker thread (after).

    Measured in a run of its own, so with its own machine line (and table)."""
    if not g:
        return ""
    m = g["machine"]
    def drawing(r: dict) -> str:  # the UI thread's time per view drawn (its paints included); the worker path only
        if r.get("draw_ms_median") is None:
            return "—"
        return f"median {r['draw_ms_median']:.0f} ms, worst {r['draw_ms_max']:.0f} ms"

    rows = [[f"{r['model']} on {r['dataset']}", r["stepping"],
             f"p50 {r['p50_ms']:.1f} ms, **p95 {r['p95_ms']:.1f} ms, worst {r['max_ms']:.0f} ms**",
             f"{r['sandbox_steps_per_s']:.1f}", f"{r['views_shown_per_s']:.1f}", drawing(r), g["target"]] for r in g["rows"]]
    return (f"\nEvent-loop latency (the same 20 ms timer, {g['rows'][0]['seconds']:.0f} s each) while the GAN tab's sandbox plays at "
            f"{g['play_speed']}. Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, torch {m['torch']} with "
            f"{g['torch_threads']} thread, Qt {m['qt_platform']}; measured {g['date']}, the two paths alternated in one run. "
            f"{'No other job ran' if max(g['load_average_at_start'][0], g['load_average_at_end'][0]) < 1.5 else 'The machine was shared with other jobs'}: "
            f"load average (1 min) {g['load_average_at_start'][0]:.1f} at the start, "
            f"{g['load_average_at_end'][0]:.1f} at the end, on {m['cores']} cores.\n\n") + table(
        ["sandbox", "steps run on", "event-loop latency", "sandbox steps/s", "views drawn/s", "UI thread per view drawn", "target"], rows)


def ddpm_methods() -> str:
    """Issue 21's DDPM methods at compute-matched step budgets (ddpm_methods.py): FID per method, kept or rejected."""
    d = load("ddpm_methods")
    verdicts = d.get("verdicts", {})
    out = []
    for machine, rows in by_machine(d["rows"]).items():
        methods = list(dict.fromkeys(r["method"] for r in rows))
        fractions = sorted({r["fraction"] for r in rows})

        def cell(method: str, fraction: float) -> str:
            got = sorted((r for r in rows if r["method"] == method and r["fraction"] == fraction), key=lambda r: r["seed"])
            if not got:
                return "—"
            fids = ", ".join(f"{num(r['fid'])} (s{r['seed']})" if len(got) > 1 else num(r["fid"]) for r in got)
            return f"{fids} @ {got[0]['steps']:,}"

        def cost(method: str) -> str:
            r = next(r for r in rows if r["method"] == method)
            measured = d.get("ratios", {}).get(method)
            if measured is not None and measured != r["ratio"]:
                return f"{r['ratio']:.2f} (measured {measured:.2f})"
            return f"{r['ratio']:.2f}"

        def frac(f: float) -> str:
            return "full budget" if f == 1 else f"{f:g} of the budget"

        out.append(f"Machine: {machine}; {dates(rows, d.get('date', ''))}; budget {d['budget']:,} baseline steps; "
                   "FID at n=500, DDIM 50 unless the method is a sampler, cell: FID (seed) @ steps.\n\n")
        out.append(table(
            ["method", "what", "step cost vs baseline"] + [f"FID, {frac(f)}" for f in fractions] + ["verdict"],
            [[m, next(r["what"] for r in rows if r["method"] == m), cost(m)] + [cell(m, f) for f in fractions] + [verdicts.get(m, "not decided")]
             for m in methods]))
    return "".join(out)


def likelihood_methods(d: dict[str, Any] | None = None) -> str:
    """Issue 21's Gated PixelCNN and flow methods at compute-matched step budgets (likelihood_methods.py).

    One row per run (and per extra sampling setting scored on its checkpoints): FID at the end, the last
    checkpoints' FIDs and spread, bits/dim at the end, the verdict.
    """
    d = d if d is not None else load("likelihood_methods")
    out = []
    for machine, rows in by_machine(d["rows"]).items():
        body = []
        for r in rows:
            what = ", ".join(f"{k}={v}" for k, v in r["set"].items()) or "defaults"
            cost = "" if r["ratio"] == 1 else f" / {r['ratio']:.2f}"
            run = f"{r['steps']:,} ({r['fraction']:g} of {r['budget']:,}{cost}), seed {r['seed']}"
            variants = [("", r["fid_last"])] + [(k[len("fid_last_"):], v) for k, v in r.items() if k.startswith("fid_last_")]
            for name, fids in variants:
                tail = fids[-3:]
                spread = (max(tail) - min(tail)) / min(tail) if len(tail) > 1 else None
                last = [p for p in r["points"] if ",".join(f"{k}={v}" for k, v in p["sampling"].items()) == name][-1]
                verdict = (r.get("verdicts") or {}).get(name, r.get("verdict") or "not decided")
                body.append([r["model"], r["method"] + (f", sampled with {name}" if name else ""), what, run, f"{r['reference']} (floor {num(last['fid_floor'])})",
                             f"**{num(fids[-1])}**", ", ".join(num(f) for f in fids), "—" if spread is None else f"{spread:.0%}",
                             num(last["bits_per_dim"]), verdict, (r.get("notes") or {}).get(name, r.get("note", ""))])
        out.append(f"Machine: {machine}; {dates(rows, d.get('date', ''))}; n={rows[0]['n']}, FID against the reference column's held-out "
                   "images in the mnist5k classifier's features (binarised for a model of binarised images, with its floor measured "
                   "the same way); bits/dim of the validation set with the sampling weights.\n\n")
        out.append(table(["model", "method", "settings", "steps (budget fraction), seed", "FID reference", "FID at the end", "FID at the checkpoints scored",
                          "spread of the last three", "bits/dim at the end", "verdict", "note"], body))
    for r in d.get("ratios", []):
        out.append(f"\nStep cost: {r['variant']} {r['variant_set'] or ''} / {r['baseline']} {r['baseline_set'] or ''} = "
                   f"**{r['ratio']:.2f}** ({num(r['variant_s_per_step'])} s against {num(r['baseline_s_per_step'])} s a step, "
                   f"{r['steps_each']} steps each, interleaved in one process).\n")
    return "".join(out)


def flow_methods() -> str:
    """Issue 21: the flows' methods, 5-minute screens on mnist5k, each one setting away from the row it names (flow_methods.py)."""
    d = load("flow_methods")
    verdicts = d.get("verdicts", {})
    out = []
    for machine, rows in by_machine(d["rows"]).items():
        floors = sorted({round(r["fid_floor"], 2) for r in rows if r.get("fid_floor") is not None})
        out.append(f"Machine: {machine}; {dates(rows, d.get('date', ''))}; {rows[0]['minutes']:g} minutes of training each, one torch "
                   f"thread, seed {rows[0]['seed']}; FID and bits/dim of the last checkpoint at n={rows[0]['n']} (floor "
                   f"{', '.join(map(str, floors))}); ink: the samples' mean pixel over the held-out digits'.\n\n")
        body = [[r["model"], r["variant"], r["what"], f"{r['steps']:,}", f"**{num(r['fid'])}**", num(r["bpd"]), f"{r['ink_ratio']:.2f}",
                 f"{num(r['precision'])} / {num(r['recall'])}", verdicts.get(r["variant"], "not decided")] for r in rows]
        out.append(table(["model", "variant", "what changed", "steps", "FID", "bits/dim", "ink", "precision / recall", "verdict"], body))
    return "".join(out)


def flow_temperature() -> str:
    """Issue 21: the flows' 10-minute defaults sampled at several temperatures, on the same weights (flow_temperature.py)."""
    d = load("flow_temperature")
    out = []
    for machine, rows in by_machine(d["rows"]).items():
        rows = sorted(rows, key=lambda r: (r["model"], r["seed"], -r["temperature"]))
        out.append(f"Machine: {machine}; {dates(rows, d.get('date', ''))}; the last checkpoint of each time-to-quality row of today's "
                   f"defaults; FID at n={rows[0]['n']} (floor {num(rows[0]['fid_floor'])}); ink: the samples' mean pixel over the "
                   "held-out digits'.\n\n")
        best = {}
        for r in rows:
            k = (r["model"], r["seed"])
            best[k] = min(best.get(k, r["fid"]), r["fid"])
        body = [[r["model"], str(r["seed"]), f"{r['steps']:,}", f"{r['temperature']:g}",
                 f"**{num(r['fid'])}**" if r["fid"] == best[(r["model"], r["seed"])] else num(r["fid"]),
                 f"{r['ink_ratio']:.2f}", f"{num(r['precision'])} / {num(r['recall'])}"] for r in rows]
        out.append(table(["model", "seed", "steps", "T", "FID", "ink", "precision / recall"], body))
    return "".join(out)


def sgan_accuracy() -> str:
    """Issue 22: SGAN's validation accuracy with 10 labels per class against a plain classifier trained on the
    same labelled examples, at one step budget (sgan_accuracy.py)."""
    d = load("sgan_accuracy")
    out = []
    for machine, rows in by_machine(sorted(d["rows"], key=lambda r: r["seed"])).items():
        r0 = rows[0]
        out.append(f"Machine: {machine}; {dates(rows, d.get('date', ''))}; {d['dataset']}, {d['labelled_per_class']} labels per class "
                   f"({r0['labelled']} labelled examples, the same for both in each row), {r0['steps']:,} steps each, "
                   f"accuracy on the {r0['val_examples']} validation digits with the final weights.\n\n")
        body = [[str(r["seed"]), f"**{r['sgan_accuracy']:.1%}**", f"{r['classifier_accuracy']:.1%}",
                 f"{100 * (r['sgan_accuracy'] - r['classifier_accuracy']):+.1f} points", f"{r['sgan_seconds']:.0f}"] for r in rows]
        if len(rows) > 1:
            mean = {k: sum(r[k] for r in rows) / len(rows) for k in ("sgan_accuracy", "classifier_accuracy")}
            body.append(["mean", f"**{mean['sgan_accuracy']:.1%}**", f"{mean['classifier_accuracy']:.1%}",
                         f"{100 * (mean['sgan_accuracy'] - mean['classifier_accuracy']):+.1f} points", ""])
        out.append(table(["seed", "SGAN (labelled + unlabelled)", "plain classifier (labelled only)", "difference",
                          "SGAN training s (shared CPU)"], body))
    return "".join(out)


def vae_methods() -> str:
    """Issue 21's VAE methods at compute-matched step budgets (vae_methods.py): FID from each prior, kept or rejected."""
    d = load("vae_methods")
    verdicts = d.get("verdicts", {})
    out = []
    for machine, rows in by_machine(d["rows"]).items():
        variants = list(dict.fromkeys(r["variant"] for r in rows))

        def cell(variant: str, prior: str) -> str:
            got = sorted((r for r in rows if r["variant"] == variant), key=lambda r: (r["fraction"], r["seed"]))
            return ", ".join(f"{num(r[prior]['fid'])} (s{r['seed']}, {r['steps']:,} steps)" for r in got)

        def bpd(variant: str) -> str:
            got = [r for r in rows if r["variant"] == variant]
            if any(r["settings"].get("likelihood") == "gaussian" for r in got):
                return "not comparable (a density of grey levels)"
            return ", ".join(num(r["val_at_end"]["bpd"]) for r in got if "bpd" in r["val_at_end"]) or "—"

        floors = sorted({round(r["fid_floor"], 2) for r in rows})
        fractions = sorted({r["fraction"] for r in rows})
        out.append(f"Machine: {machine}; {dates(rows, d.get('date', ''))}; budget {d.get('budget', 21864):,} baseline steps, "
                   f"{' and '.join(f'{f:g}' for f in fractions)} of it; FID at n=500 (floor {', '.join(map(str, floors))}).\n\n")
        out.append(table(
            ["method", "what", "step cost vs baseline", "FID, N(0, I) prior", "FID, fitted mixture", "bits/dim (grey as Bernoulli)", "verdict"],
            [[v, next(r["what"] for r in rows if r["variant"] == v), f"{next(r['cost_ratio'] for r in rows if r['variant'] == v):.2f}",
              cell(v, "standard"), cell(v, "mixture"), bpd(v), verdicts.get(v, "not decided")] for v in variants]))
    return "".join(out)


def vae_mixture() -> str:
    """Issue 21: the VAE's mixture prior, component counts screened on the 10-minute runs (vae_mixture.py)."""
    d = load("vae_mixture")
    verdicts = d.get("verdicts", {})
    out = []
    for machine, rows in by_machine(d["rows"]).items():
        runs = sorted({(r["run_seed"], r["checkpoint_step"]) for r in rows})
        counts = sorted({r["components"] for r in rows})
        seeds = sorted({s for r in rows for s in r["eval"]}, key=int)

        def row_of(k: int, run: tuple[int, int]) -> dict[str, Any] | None:
            return next((r for r in rows if r["components"] == k and (r["run_seed"], r["checkpoint_step"]) == run), None)

        def fids(r: dict[str, Any] | None) -> str:
            return " / ".join(num(r["eval"][s]["fid"]) for s in seeds if s in r["eval"]) if r else "—"

        floors = sorted({round(e["fid_floor"], 2) for r in rows for e in r["eval"].values() if e.get("fid_floor") is not None})
        out.append(f"Machine: {machine}; {dates(rows, d.get('date', ''))}; FID at n={rows[0]['n']} (floor {', '.join(map(str, floors))}), "
                   f"samples of seed {' / '.join(seeds)}; held-out log-likelihood: a mixture fitted to 90% of the "
                   f"{rows[0]['codes']:,} banked codes ({rows[0]['latent_dim']} dimensions), scored on the other 10%.\n\n")
        header = ["components"]
        for seed, step in runs:
            header += [f"FID, run seed {seed} ({step:,} steps)", f"held-out log-lik, seed {seed}"]
        header += ["fit (s)", "verdict"]
        body = []
        for k in counts:
            cells = [str(k)]
            for run in runs:
                r = row_of(k, run)
                cells += [fids(r), num(r["heldout_loglik"]) if r else "—"]
            cells += [", ".join(num(r["fit_seconds"], 2) for run in runs if (r := row_of(k, run))), verdicts.get(str(k), "not decided")]
            body.append(cells)
        out.append(table(header, body))
    return "".join(out)


TABLES: dict[str, Callable[[], str]] = {
    "sgan_accuracy": sgan_accuracy,
    "train_speed": train_speed, "engine_overhead": engine_overhead, "time_to_quality": time_to_quality,
    "time_to_quality_30min": lambda: time_to_quality(load("time_to_quality_30min")),
    "time_to_quality_pairs": lambda: time_to_quality(load("time_to_quality_pairs")),
    "time_to_quality_lr_pairs": lambda: time_to_quality(load("time_to_quality_lr_pairs")),
    "speedups_avx2": speedups_avx2, "speedups_bf16": speedups_bf16, "sampling_speed": sampling_speed, "threads": threads,
    "distributed_throughput": distributed_throughput, "reliability": reliability, "ui": ui,
    "ddpm_methods": ddpm_methods, "vae_methods": vae_methods, "vae_mixture": vae_mixture, "likelihood_methods": likelihood_methods,
    "flow_methods": flow_methods, "flow_temperature": flow_temperature,
}


# -- numbers quoted in prose -----------------------------------------------------------------------


def distributed_sentence() -> str:
    d = load("distributed_throughput")
    rows = {(r["processes"], r["threads_per_process"]): r for r in d["rows"]}
    two, one = rows[2, 1], rows[1, 1]
    busy = sorted(r["other_cores_busy"] for r in d["rows"])
    parts = [f"Measured on a {d['machine_info']['cores']}-core CPU ({d['date']}, `benchmarks/distributed_throughput.py`"
             + (f"; other processes kept {busy[0]:.1f}-{busy[-1]:.1f} cores busy" if busy[-1] >= 0.1 else "; no other load") + "): "
             f"2 processes of 1 thread trained {num(two['examples_per_s'])} examples/s against {num(one['examples_per_s'])} "
             f"for one process of 1 thread ({two['examples_per_s'] / one['examples_per_s']:.2f}x)"]
    if (1, 2) in rows:
        parts.append(f" and {num(rows[1, 2]['examples_per_s'])} for one process of 2 threads")
    parts.append(f"; the mean loss of the last 100 of {d['steps']} steps was {two['loss_last_100_steps']:.1f} "
                 f"against {one['loss_last_100_steps']:.1f} (2 processes see twice the examples per step)")
    return "".join(parts) + "."


def _speedup_ratio_range(machine: str, variant: str) -> tuple[float, float]:
    ratios = [r["ratio_to_base"] for r in load("speedups")["rows"] if r.get("machine") == machine and r["variant"] == variant]
    return min(ratios), max(ratios)


def facts() -> dict[str, list[str]]:
    """Sentences of prose, rendered from the results files, that must appear in each document."""
    ui_, ld, ds, ar = load("ui"), load("latent_decode"), load("diffusion_scrub"), load("autoregressive_panel")
    ev, slider = ui_["event_loop_latency"], ld["panel_slider_move"]
    img, pts = ds["images_16x28x28_ddim50"], ds["points_500_ddpm200_with_field"]
    lo, hi = _speedup_ratio_range(SPEEDUP_MACHINES["speedups_bf16"], "bf16")
    slow_lo, slow_hi = (1 / x for x in reversed(_speedup_ratio_range(SPEEDUP_MACHINES["speedups_avx2"], "bf16")))
    # The prose below describes the pass of 2026-12-04 (rows of later passes are quoted where they are described).
    ttq = {r["model"]: r for r in load("time_to_quality")["rows"] if r["dataset"] == "mnist5k" and r["date"] == "2026-12-04"}
    nvp = ttq["realnvp"]["points"]
    nvp300 = next(p for p in nvp if p["step"] == 300)
    blind = re.search(r"blind spot: (\d+)", ar["pixelcnn_receptive_field"]).group(1)
    readme = [
        distributed_sentence(),
        f"{lo:.1f}-{hi:.1f}x faster at the same loss on an AVX512-BF16 CPU, {slow_lo:.0f}-{slow_hi:.0f}x slower where bf16 is emulated",
        f"event-loop latency p95 {ev['p95_ms']:.1f} ms, worst\n{ev['max_ms']:.0f} ms",
        f"Decoding on a slider move takes {slider['ms_median']:.1f} ms median / {slider['ms_p95']:.1f} ms p95 at 28x28 (target < {ld['target_ms']:.0f} ms",
        f"p95 {img['ms_p95']:.1f} ms for 16 MNIST digits and {pts['ms_p95']:.1f} ms for 500 particles",
        f"trained for only {ar['checkpoint_step']} steps",
        f"exact NLL of {ar['nll_nats']:.2f} nats ({ar['bits_per_dim']:.3f} bits/dim) on {ar['nll_examples']} validation digits",
        f"It samples {ar['pixels_per_s_cached']:.0f} pixels/s with the row cache against {ar['pixels_per_s_naive']:.0f} without "
        f"({ar['pixels_per_s_cached'] / ar['pixels_per_s_naive']:.1f}x",
        f"PixelCNN shows its blind spot ({blind} earlier pixels",
        f"({ttq['realnvp']['steps']} steps;",
        f"they are thick strokes, FID {nvp300['fid']:.0f}",
        f"thinned to specks, FID {nvp[-1]['fid']:.0f}",
    ]
    dcgan, vae, ddpm, gpc = ttq["dcgan"], ttq["vae"], ttq["ddpm"], ttq["gated-pixelcnn"]
    gan2d = next(r for r in load("time_to_quality")["rows"] if r["model"] == "gan")
    worst = max(gan2d["points"], key=lambda p: p["mmd2"])
    fp32 = {r["model"]: r for r in load("time_to_quality_fp32")["rows"]}
    short = {r["model"]: r for r in load("time_to_quality_2min")["rows"]}
    gain = [ttq[m]["steps"] / fp32[m]["steps"] for m in ("vae", "dcgan", "ddpm", "gated-pixelcnn")]
    thick = [p for p in nvp if p["step"] in (200, 300)]
    pcs = load("pixelcnn_sampling")["results"][0]
    results = [
        "FID and KID (KID not scaled: a squared distance in the classifier's features, so values near 0 and a slightly negative floor are expected)",
        f"(FID {num(dcgan['points'][0]['fid'])} after one minute, {num(dcgan['points'][-1]['fid'])} at 10)",
        f"improves steadily ({vae['points'][0]['fid']:.0f} -> {num(vae['points'][-1]['fid'])})",
        f"Its FID fell from {ddpm['points'][0]['fid']:.0f} at {ddpm['points'][0]['train_s'] / 60:.1f} minutes to "
        f"{ddpm['points'][-1]['fid']:.0f} at 10 ({ddpm['steps']:,} steps)",
        f"FID {num(min(p['fid'] for p in gpc['points']))} to {num(gpc['points'][-1]['fid'])} and KID "
        f"{min(p['kid'] for p in gpc['points']):.0f} to {num(max(p['kid'] for p in gpc['points']))} within minutes",
        f"drew thick strokes after 200-300 steps (FID {num(thick[0]['fid'], 2)}, {thick[0]['train_s'] / 60:.1f}-{thick[-1]['train_s'] / 60:.1f} min)",
        f"FID rose to {nvp[-1]['fid']:.0f}",
        f"(MMD² {num(worst['mmd2'], 2)} at {worst['train_s'] / 60:.1f} min)",
        f"the same 10 minutes gave {fp32['vae']['steps']:,} VAE / {fp32['dcgan']['steps']:,} DCGAN / {fp32['ddpm']['steps']:,} DDPM / "
        f"{fp32['gated-pixelcnn']['steps']:,} Gated PixelCNN steps (today {min(gain):.1f}-{max(gain):.1f}x as many) and FID VAE "
        f"{num(fp32['vae']['points'][-1]['fid'])}, DCGAN {num(fp32['dcgan']['points'][-1]['fid'])}, DDPM {num(fp32['ddpm']['points'][-1]['fid'])}, "
        f"Gated PixelCNN {num(fp32['gated-pixelcnn']['points'][-1]['fid'])}, old-default RealNVP {num(fp32['realnvp']['points'][-1]['fid'])}",
        f"DCGAN {num(short['dcgan']['points'][-1]['fid'])}, VAE {num(short['vae']['points'][-1]['fid'], 2)}, Gated PixelCNN "
        f"{num(short['gated-pixelcnn']['points'][-1]['fid'])}, RealNVP {num(short['realnvp']['points'][-1]['fid'])}, DDPM "
        f"{num(short['ddpm']['points'][-1]['fid'])}",
        f"made every family {lo:.1f}-{hi:.1f}x *faster*",
        f"autocast made steps {slow_lo:.0f}-{slow_hi:.0f}x *slower*",
        f"they made {min(gain):.1f}-{max(gain):.1f}x the steps of the fp32 runs",
        f"(DCGAN {num(dcgan['points'][-1]['fid'])} against {num(fp32['dcgan']['points'][-1]['fid'])}, DDPM "
        f"{ddpm['points'][-1]['fid']:.0f} against {num(fp32['ddpm']['points'][-1]['fid'])})",
        f"cached and naive sampling: {pcs['speedup']:.1f}x for PixelCNN on 28x28 digits",
        f"(median {slider['ms_median']:.1f} ms, p95 {slider['ms_p95']:.1f} ms at 28x28; target {ld['target_ms']:.0f} ms)",
        f"(p95 {img['ms_p95']:.1f} ms for 16 digits, {pts['ms_p95']:.1f} ms for 500 particles",
        distributed_sentence(),
    ]
    late = [t["late_ms"] for t in ev["late_ticks"]]
    ui_doc = [
        f"at 5 % the ratio is ~{ui_['steps_per_s']['ratio_window_over_cli_same_threads']:.2f}",
        f"The worst remaining stalls ({min(late):.0f}–{max(late):.0f} ms)" if len(late) > 1 else f"The worst remaining stall ({max(late):.0f} ms)",
    ]
    return {"README.md": readme, "RESULTS.md": results, "RESULTS_ui.md": ui_doc}


# -- rendering the documents -----------------------------------------------------------------------


def render(text: str) -> str:
    """``text`` with every marked table rendered again from its results file."""
    def block(m: re.Match) -> str:
        name = m.group(1)
        if name not in TABLES:
            raise KeyError(f"no renderer for <!-- table:{name} --> (known: {', '.join(TABLES)})")
        return f"<!-- table:{name} -->\n\n{TABLES[name]()}\n<!-- /table -->"

    return BLOCK.sub(block, text)


def problems() -> list[str]:
    """What differs between the documents and the results files, one line each."""
    out = []
    for name, path in DOCUMENTS.items():
        text = path.read_text()
        words = " ".join(text.split())  # a quoted sentence may wrap anywhere
        if render(text) != text:
            stale = [m.group(1) for m in BLOCK.finditer(text) if render(m.group(0)) != m.group(0)]
            out.append(f"{name}: tables {', '.join(stale)} differ from their results files (python benchmarks/report.py rewrites them)")
        for fact in facts()[name]:
            if " ".join(fact.split()) not in words:
                out.append(f"{name}: does not say {fact!r}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 when a table or quoted number differs")
    args = ap.parse_args()
    if not args.check:
        for path in DOCUMENTS.values():
            text = path.read_text()
            if render(text) != text:
                path.write_text(render(text))
                print(f"rewrote {path.relative_to(ROOT)}")
    found = problems()
    for line in found:
        print(line)
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
