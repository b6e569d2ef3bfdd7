"""The command line: ``genstudio [studio] | train | sample | eval | list``.

Never imports Qt unless the studio is asked for. Bad input (unknown id, bad
value, missing or corrupt file, unreadable checkpoint) gets one line on
stderr and exit code 2, and creates nothing.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path
from typing import Sequence



def _usage_errors() -> tuple[type[BaseException], ...]:
    from genstudio.core.config import ConfigError
    from genstudio.core.model import DataMismatchError
    from genstudio.core.registry import UnknownIdError
    from genstudio.core.runs import RunError
    from genstudio.data.dataset import DataError

    return (ConfigError, DataError, RunError, UnknownIdError, DataMismatchError)


class CLIError(Exception):
    """A usage error found by the CLI itself."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="genstudio",
        description="Train and look inside classic generative models. With no command, opens the studio window.",
    )
    p.add_argument("--version", action="version", version=_version())
    sub = p.add_subparsers(dest="command")

    s = sub.add_parser("studio", help="open the studio window (the default)")
    s.add_argument("--dataset", help="dataset to preselect (e.g. mnist5k)")
    s.add_argument("--model", help="model to preselect (e.g. ddpm)")
    s.add_argument("--runs", help="runs folder (default ./runs)")
    s.add_argument("--path", help="file or folder for the folder / array / csv datasets")
    s.add_argument("--open", dest="open_run", help="a run folder to open")
    s.add_argument("--theme", choices=("light", "dark"))
    s.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
                   help="a model, run or data setting for the forms (as in genstudio train --set)")
    s.add_argument("--train", action="store_true", help="start training as soon as the data is loaded")

    t = sub.add_parser("train", help="train a model into a new run folder")
    t.add_argument("--model", help="model id (genstudio list models)")
    t.add_argument("--dataset", help="dataset id (genstudio list datasets)")
    t.add_argument("--steps", type=int, help="training steps")
    t.add_argument("--out", help="run folder to create (default runs/<model>-<dataset>-<time>)")
    t.add_argument("--seed", type=int)
    t.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps")
    t.add_argument("--batch-size", type=int)
    t.add_argument("--minutes", type=float, help="stop after this many minutes of training")
    t.add_argument("--data-path", help="file or folder for the folder / array / csv datasets")
    t.add_argument("--data-root", help="root folder for torchvision datasets")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting (model., run. or data. prefix optional)")
    t.add_argument("--config", help="a config.toml to start from")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its latest checkpoint")

    sm = sub.add_parser("sample", help="draw samples from a trained run")
    sm.add_argument("run", help="run folder")
    sm.add_argument("--n", type=int, default=64)
    sm.add_argument("--out", required=True, help="output .npz (or .wav for audio models: the clips one after another)")
    sm.add_argument("--seed", type=int, default=0)
    sm.add_argument("--sampler", help="sampler, for models that have several (e.g. ddpm, ddim); default: the one the previews and eval use")
    sm.add_argument("--steps", type=int, help="sampler steps (e.g. 50 for DDIM)")
    sm.add_argument("--eta", type=float, help="DDIM eta")
    sm.add_argument("--temperature", type=float,
                    help="scale of the prior or the logits, for models that take one (flows, autoregressive models, autoencoders); "
                         "Glow's paper samples at 0.7; default: 1")
    sm.add_argument("--label", type=int, help="class label, for conditional models")
    sm.add_argument("--checkpoint", type=int, help="checkpoint step (default: latest)")
    sm.add_argument("--device", default="auto")
    sm.add_argument("--grid", help="also write the first 64 samples as a PNG grid here")

    e = sub.add_parser("eval", help="evaluate a run; prints one JSON object")
    e.add_argument("run", help="run folder")
    e.add_argument("--n", type=int, default=1000, help="validation examples to use")
    e.add_argument("--checkpoint", type=int)
    e.add_argument("--device", default="auto")
    e.add_argument("--sampler", help="sampler, for models that have several (e.g. ddpm, ddim); default: the one the previews use")
    e.add_argument("--steps", type=int, help="sampler steps (e.g. 50 for DDIM), to measure NFE against quality")
    e.add_argument("--seed", type=int, default=0, help="seed of the samples")
    e.add_argument("--temperature", type=float, help="score samples at this temperature (models that take one); default: 1")
    e.add_argument("--inception", help="local torchvision inception_v3 state dict for the standard FID (default $GENSTUDIO_INCEPTION_WEIGHTS; never downloaded)")
    e.add_argument("--no-save", action="store_true", help="do not append the result to RUN/evals.jsonl")

    ls = sub.add_parser("list", help="list models, datasets or runs")
    ls.add_argument("what", choices=["models", "datasets", "runs"])
    ls.add_argument("--root", help="runs folder (default ./runs)")

    d = sub.add_parser("install-desktop", help="add genstudio to the desktop's application menu (Linux)")
    d.add_argument("--uninstall", action="store_true", help="remove the menu entry and icon instead")
    return p


def _version() -> str:
    from genstudio import __version__

    return f"genstudio {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv = ["studio", *argv]
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "studio":
            return cmd_studio(args)
        if args.command == "train":
            return cmd_train(args)
        if args.command == "sample":
            return cmd_sample(args)
        if args.command == "eval":
            return cmd_eval(args)
        if args.command == "list":
            return cmd_list(args)
        if args.command == "install-desktop":
            return cmd_install_desktop(args)
    except CLIError as e:
        print(f"genstudio: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except _usage_errors() as e:
        print(f"genstudio: error: {_one_line(e)}", file=sys.stderr)
        return 2
    parser.print_help()
    return 2


def _one_line(e: BaseException) -> str:
    """The message on one line: a line break the user typed (a newline, U+0085, U+2028...) is shown escaped."""
    text = str(e)
    return "".join(c if len(f"{c}x".splitlines()) == 1 else repr(c)[1:-1] for c in text)


# -- studio ---------------------------------------------------------------------


def cmd_studio(args: argparse.Namespace) -> int:
    import importlib.util

    try:
        # Look for the GUI stack without importing it, so a missing Qt gets one clear line.
        missing = [name for name in ("PySide6", "pyqtgraph") if importlib.util.find_spec(name) is None]
        if missing:
            raise ImportError(f"{', '.join(missing)} not installed")
        from genstudio.ui.app import main as studio_main
    except ImportError as e:
        print(
            f"genstudio: error: the studio needs PySide6 and pyqtgraph ({e}); install them, or use the command line: genstudio train --help",
            file=sys.stderr,
        )
        return 2
    extra = []
    for flag, dest in (("dataset", "dataset"), ("model", "model"), ("runs", "runs"), ("path", "path"), ("open", "open_run"), ("theme", "theme")):
        if getattr(args, dest, None):
            extra += [f"--{flag}", getattr(args, dest)]
    for assignment in getattr(args, "assignments", None) or []:
        extra += ["--set", assignment]
    if getattr(args, "train", False):
        extra.append("--train")
    return studio_main(extra)


# -- train ------------------------------------------------------------------------


def _spec_from_args(args: argparse.Namespace):
    from genstudio.core.config import parse_assignments
    from genstudio.core.registry import get_model_class
    from genstudio.core.spec import RunSpec, split_overrides

    run_over: dict = {}
    data_over: dict = {}
    if args.config:
        base = RunSpec.from_toml_file(args.config)
        model_id = args.model or base.run.model
        dataset_id = args.dataset or base.run.dataset
    else:
        base = None
        if not args.model or not args.dataset:
            raise CLIError("train needs --model and --dataset (or --config FILE); see genstudio list models / datasets")
        model_id, dataset_id = args.model, args.dataset
    model_cls = get_model_class(model_id)
    r, m, d = split_overrides(parse_assignments(args.set), model_cls)
    for key, value in (("steps", args.steps), ("seed", args.seed), ("device", args.device), ("batch_size", args.batch_size), ("max_minutes", args.minutes)):
        if value is not None:
            run_over[key] = value
    if args.data_path is not None:
        data_over["path"] = args.data_path
    if args.data_root is not None:
        data_over["root"] = args.data_root
    run_over.update(r)
    data_over.update(d)
    if "seed" in run_over and "seed" not in data_over:
        data_over["seed"] = run_over["seed"]
    if base is not None:
        from genstudio.core import config as cfg

        if model_id != base.run.model:
            mcfg = cfg.with_overrides(model_cls.config_class(), m)
        else:
            mcfg = cfg.with_overrides(base.model, m)
        run = cfg.with_overrides(base.run, {**run_over, "model": model_id, "dataset": dataset_id})
        data = cfg.with_overrides(base.data, data_over)
        return RunSpec(run, mcfg, data)
    return RunSpec.create(model_id, dataset_id, run_over, m, data_over, data_kind=_default_kind(model_id, dataset_id, run_over, data_over))


def _default_kind(model_id: str, dataset_id: str, run_over: dict, data_over: dict) -> str | None:
    """The data's kind, where the model's default steps depend on it and --steps did not say (the studio's form knows it).

    Only then is the dataset loaded here (once more, by the engine, after); its
    errors are the ones the run would give.
    """
    from genstudio.core.spec import run_defaults_vary_by_kind

    if "steps" in run_over or not run_defaults_vary_by_kind(model_id):
        return None
    from genstudio.core.config import with_overrides
    from genstudio.core.data_types import DataOptions
    from genstudio.core.loading import load_data

    return load_data(dataset_id, with_overrides(DataOptions(), data_over)).info.kind


def cmd_train(args: argparse.Namespace) -> int:
    from genstudio.core.engine import train
    from genstudio.core.events import RunControl
    from genstudio.core.runs import RunFolder
    from genstudio.metrics.quality_job import training_jobs  # the CLI plugs the metrics into the engine

    if args.resume:
        if not args.out:
            raise CLIError("--resume needs --out RUN_FOLDER")
        run = RunFolder(args.out)
        if not run.exists():
            raise CLIError(f"cannot resume: '{args.out}' is not a run folder")
        # Another process training into it: refuse first, in one line (the engine's lock checks again).
        run.check_unlocked()
        spec = run.spec()
        over = {}
        if args.steps is not None:
            over["steps"] = args.steps
        if args.device is not None:
            over["device"] = args.device
        if args.minutes is not None:
            over["max_minutes"] = args.minutes
        if args.set:
            from genstudio.core.config import parse_assignments
            from genstudio.core.registry import get_model_class
            from genstudio.core.spec import split_overrides

            r, m, d = split_overrides(parse_assignments(args.set), get_model_class(spec.run.model))
            if m or d:
                raise CLIError("a resumed run keeps its model and data settings; only run settings (steps, device, ...) can change")
            over.update(r)
        spec = spec.with_overrides(run=over)
        out = args.out
        _warn_skipped_checkpoints(run)
    else:
        spec = _spec_from_args(args)
        out = args.out or f"runs/{spec.run.model}-{spec.run.dataset}-{time.strftime('%Y%m%d-%H%M%S')}"

    control = RunControl()
    interrupted = {"n": 0}

    def on_sigint(signum, frame):  # first Ctrl+C stops cleanly (with a checkpoint); a second one aborts
        interrupted["n"] += 1
        if interrupted["n"] > 1:
            raise KeyboardInterrupt
        print("\nstopping after this step (Ctrl+C again to abort)...", file=sys.stderr)
        control.stop()

    from genstudio.core import distributed

    old = signal.signal(signal.SIGINT, on_sigint)
    error: BaseException | None = None
    try:
        events = distributed.follow(train(spec, out, control=control, resume=args.resume, jobs=training_jobs()))
        if not distributed.context().is_main:
            code = _follow_quietly(events, distributed.context().rank)
        else:
            code = _print_events(events, spec)
    except BaseException as e:
        error = e
        raise
    finally:
        signal.signal(signal.SIGINT, old)
        # Under torchrun: a barrier after a normal end, else the failure told to the other ranks;
        # then the process group is destroyed, its threads joined (core/distributed.py).
        if not distributed.shutdown(error):
            code = 1
    return code


def _warn_skipped_checkpoints(run) -> None:
    """Say which newer checkpoints a resume passes over (cut short, missing), and where it starts instead."""
    newest = run.newest_complete_checkpoint()
    pointer = run.latest_checkpoint()
    newer = sorted(s for s in {*run.checkpoints(), *([pointer] if pointer is not None else [])} if newest is None or s > newest)
    for step in newer:
        problem = run.checkpoint_problem(step) or "unusable"
        start = f"step {newest}, the newest complete one" if newest is not None else "the beginning (no complete checkpoint)"
        print(f"warning: checkpoint step {step} is {problem}; resuming from {start}", file=sys.stderr)


def _follow_quietly(events, rank: int) -> int:
    """Ranks other than 0 under torchrun: train without printing (rank 0 reports), except a failure."""
    from genstudio.core.events import Finished

    final = None
    for ev in events:
        if isinstance(ev, Finished):
            final = ev
    if final is None:
        return 1
    if final.status not in ("completed", "stopped"):
        print(f"rank {rank}: {final.status}: {final.message}", file=sys.stderr)
        return 1
    return 0


def _print_events(events, spec) -> int:
    from genstudio.core.events import Finished, Metrics, Notice, RunStarted

    bar = None
    tty = sys.stderr.isatty()
    final = None
    for ev in events:
        if isinstance(ev, RunStarted):
            print(
                f"run {ev.run_dir}: {spec.run.model} on {spec.run.dataset}, {ev.total_steps} steps from step {ev.start_step}, "
                f"device {ev.device}, {ev.threads} thread(s)",
                file=sys.stderr,
            )
            if tty:
                from tqdm import tqdm

                bar = tqdm(total=ev.total_steps, initial=ev.start_step, unit="step", dynamic_ncols=True)
        elif isinstance(ev, Metrics):
            text = " ".join(f"{k}={v:.4g}" for k, v in ev.values.items())
            if ev.split == "val":
                msg = f"step {ev.step} val {text}"
                if bar is not None:
                    bar.write(msg)
                else:
                    print(msg, file=sys.stderr)
            elif bar is not None:
                bar.n = ev.step
                bar.set_postfix_str(text[:80], refresh=False)
                bar.refresh()
            else:
                eta = f" eta {ev.eta_s:.0f}s" if ev.eta_s is not None else ""
                print(f"step {ev.step} {text} ({ev.steps_per_s:.2f} step/s{eta})", file=sys.stderr)
        elif isinstance(ev, Notice):
            print(f"{ev.level}: {ev.message}", file=sys.stderr)
        elif isinstance(ev, Finished):
            final = ev
    if bar is not None:
        bar.close()
    if final is None:
        return 1
    print(f"{final.status}: {final.message}", file=sys.stderr)
    return 0 if final.status in ("completed", "stopped") else 1


# -- sample -----------------------------------------------------------------------


def _cpu_threads() -> int:
    """Torch threads for sampling and evaluation, chosen as training chooses them: the cores the load leaves free.

    torch's default (every core) meets at a barrier after each of the thousands of small operators an
    autoregressive sampler runs; with a training run on one of 2 cores, drawing 64 Gated PixelCNN
    digits took minutes instead of seconds.
    """
    from genstudio.core.device import configure_threads

    return configure_threads()


def cmd_sample(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from genstudio.core.capabilities import Conditional
    from genstudio.core.loading import load_run_model
    from genstudio.core.previews import images_to_grid, save_png
    from genstudio.metrics.evaluate import sampling_kwargs

    if args.n < 1:
        raise CLIError(f"--n must be at least 1, got {args.n}")
    _cpu_threads()
    out = Path(args.out)
    if out.suffix not in (".npz", ".wav"):
        raise CLIError(f"--out must end in .npz (or .wav for audio models), got '{out}'")
    model, spec, step = load_run_model(args.run, args.checkpoint, args.device)
    if out.suffix == ".wav" and model.data_info.kind != "audio":
        raise CLIError(f"--out ends in .wav but '{spec.run.model}' makes {model.data_info.kind} data; use a .npz")
    if args.label is not None:
        if not isinstance(model, Conditional):
            raise CLIError(f"model '{spec.run.model}' is not conditional; drop --label")
        if not 0 <= args.label < model.num_classes:
            raise CLIError(f"--label must be in 0..{model.num_classes - 1}, got {args.label}")
    # The settings the previews and eval use, with the options given here over them (validated as eval validates them).
    kwargs = sampling_kwargs(model, args.sampler, args.steps, args.temperature, args.eta)
    g = torch.Generator().manual_seed(args.seed)
    chunks, label_chunks = [], []
    chunk = 256
    for i in range(0, args.n, chunk):
        k = min(chunk, args.n - i)
        if isinstance(model, Conditional) and model.num_classes > 0:
            lab = torch.full((k,), args.label, dtype=torch.long) if args.label is not None else torch.arange(i, i + k) % model.num_classes
            chunks.append(model.sample_conditional(lab.to(model.device), generator=g, **kwargs).cpu())
            label_chunks.append(lab)
        else:
            chunks.append(model.sample(k, generator=g, **kwargs).cpu())
    samples = torch.cat(chunks)
    info = model.data_info
    payload: dict = {}
    if info.kind == "points":
        payload["points"] = samples.float().numpy().astype(np.float32)
    elif info.kind == "audio":
        payload["audio"] = samples.reshape(len(samples), -1).float().numpy().astype(np.float32)
        payload["sample_rate"] = np.array(info.sample_rate)
    else:
        imgs = (samples.clamp(0, 1) * 255).round().to(torch.uint8)
        imgs = imgs[:, 0] if imgs.shape[1] == 1 else imgs.permute(0, 2, 3, 1)
        payload["images"] = imgs.numpy()
    if label_chunks:
        payload["labels"] = torch.cat(label_chunks).numpy().astype(np.int64)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".wav":
        from genstudio.data.audio import write_wav

        # Every clip one after another, 0.1 s of silence between: 16-bit PCM at the data's rate.
        write_wav(out, payload["audio"], int(info.sample_rate) or 8000)
    else:
        np.savez_compressed(out, **payload)
    if args.grid:
        from genstudio.core.previews import points_to_image

        if info.kind == "points":
            save_png(Path(args.grid), points_to_image(payload["points"], info.extent))
        elif info.kind == "image":
            save_png(Path(args.grid), images_to_grid(samples[:64]))
    print(json.dumps({"run": str(args.run), "checkpoint_step": step, "n": args.n, "out": str(out), **{k: list(v.shape) for k, v in payload.items() if hasattr(v, "shape") and v.ndim}}))
    return 0


# -- eval ---------------------------------------------------------------------------


def cmd_eval(args: argparse.Namespace) -> int:
    from genstudio.metrics.evaluate import evaluate_run

    if args.n < 2:
        raise CLIError(f"--n must be at least 2, got {args.n}")
    if args.steps is not None and args.steps < 1:
        raise CLIError(f"--steps must be at least 1, got {args.steps}")
    _cpu_threads()
    result = evaluate_run(
        args.run,
        n=args.n,
        checkpoint=args.checkpoint,
        device=args.device,
        sampler=args.sampler,
        steps=args.steps,
        save=not args.no_save,
        inception=args.inception,
        seed=args.seed,
        temperature=args.temperature,
    )
    print(json.dumps(result, sort_keys=True))
    return 0


# -- install-desktop ------------------------------------------------------------------------


def cmd_install_desktop(args: argparse.Namespace) -> int:
    from genstudio import desktop

    try:
        if args.uninstall:
            removed = desktop.uninstall()
            print("removed " + ", ".join(map(str, removed)) if removed else "nothing to remove: genstudio was not in the menu", file=sys.stderr)
            return 0
        written = desktop.install()
    except (desktop.DesktopError, OSError) as e:
        raise CLIError(f"cannot install the desktop entry: {e}") from None
    print("wrote " + ", ".join(map(str, written)), file=sys.stderr)
    return 0


# -- list -----------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    from genstudio.core import registry

    if args.what == "models":
        for mid in registry.model_ids():
            cls = registry.get_model_class(mid)
            print(f"{mid:16s} {cls.family:14s} {'/'.join(cls.data_kinds):18s} {cls.summary}")
    elif args.what == "datasets":
        for did in registry.dataset_ids():
            loader = registry.get_dataset_loader(did)
            doc = (loader.__doc__ or "").strip().splitlines()
            print(f"{did:14s} {doc[0] if doc else ''}")
    else:
        from genstudio.core.runs import RunError, default_runs_root, list_runs

        root = Path(args.root) if args.root else default_runs_root()
        runs = list_runs(root)
        if not runs:
            print(f"no runs under '{root}'", file=sys.stderr)
        for r in runs:
            try:
                m = r.meta
            except RunError as e:
                print(f"{r.path}  (unreadable: {e})")
                continue
            print(f"{str(r.path):40s} {m.get('model', '?'):12s} {m.get('dataset', '?'):12s} {m.get('step', 0):>8}/{m.get('total_steps', '?'):<8} {m.get('status', '?'):10s} {m.get('wall_time_s', 0):8.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
