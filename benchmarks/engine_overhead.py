"""The engine's own cost per training step, measured with a model whose step does nothing.

The engine/plain ratio of ``train_speed.py`` is a difference of two noisy
timings; on a shared VM its spread (about +-10%) is wider than the effect
it looks for. This measures the engine's fixed work per step directly (batch
indexing and conversion, the finiteness checks, metric bookkeeping, the
pause/stop token, logging every ``log_every`` steps) by training a model
whose ``train_step`` only touches the batch, and turns it into the lowest
ratio it allows for each family's measured step time:
``ratio >= step / (step + overhead)``.

Writes benchmarks/results/engine_overhead.json.
Usage: python benchmarks/engine_overhead.py [--steps 3000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from bench_common import machine_info, machine_line

from genstudio.core.config import param
from genstudio.core.engine import train
from genstudio.core.model import GenerativeModel, optimizer_step
from genstudio.core.registry import register_model
from genstudio.core.spec import RunSpec

RESULTS = Path(__file__).parent / "results" / "engine_overhead.json"


@dataclass
class NullConfig:
    lr: float = param(1e-3, "learning rate", min=0.0)


class NullModel(GenerativeModel):
    """One scalar parameter; a step is a loss on the batch mean, so the engine's checks still run."""

    config_class = NullConfig
    family = "test"
    summary = "engine overhead probe"
    data_kinds = ("image",)

    def __init__(self, config, data_info):
        super().__init__(config, data_info)
        self.w = nn.Parameter(torch.zeros(()))
        self.opt = torch.optim.SGD([self.w], lr=config.lr)

    def optimizers(self):
        return {"sgd": self.opt}

    def train_step(self, batch):
        loss = (self.w - batch.x.mean()) ** 2
        optimizer_step(loss, self.opt)
        return {"loss": loss.item()}

    @torch.no_grad()
    def sample(self, n, generator=None, **kwargs):
        return torch.zeros(n, *self.data_info.shape)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=3000)
    args = ap.parse_args()
    torch.set_num_threads(1)
    register_model("overhead-probe", NullModel)
    out = Path(tempfile.mkdtemp(prefix="gs-overhead-"))
    try:
        spec = RunSpec.create("overhead-probe", "mnist5k", {"steps": args.steps, "sample_every": 0, "preview_every_s": 0, "eval_every": 0, "checkpoint_every": 0})
        # The same step outside the engine, for the model's own share.
        ds_x = torch.rand(64, 1, 28, 28)
        model = NullModel(NullConfig(), type("I", (), {"kind": "image", "name": "x", "shape": (1, 28, 28)})())
        t0 = time.perf_counter()
        for _ in range(args.steps):
            loss = (model.w - ds_x.mean()) ** 2
            optimizer_step(loss, model.opt)
            loss.item()
        bare = (time.perf_counter() - t0) / args.steps
        t0 = time.perf_counter()
        for ev in train(spec, out / "run"):
            pass
        total = (time.perf_counter() - t0) / args.steps
    finally:
        shutil.rmtree(out, ignore_errors=True)
    overhead_ms = 1000 * max(total - bare, 0.0)
    timed = json.loads((Path(__file__).parent / "results" / "train_speed.json").read_text())["rows"]
    rows = []
    for r in timed:
        step_ms = 1000 / r["plain_steps_per_s"]
        rows.append({"model": r["model"], "threads": r["threads"], "step_ms": step_ms, "ratio_bound": step_ms / (step_ms + overhead_ms),
                     "machine": machine_line(), "step_ms_machine": r.get("machine", "not recorded")})
    result = {"machine": machine_line(), "machine_info": machine_info(), "date": time.strftime("%Y-%m-%d"), "steps": args.steps, "engine_ms_per_step_incl_startup": 1000 * total, "bare_step_ms": 1000 * bare, "overhead_ms_per_step": overhead_ms, "rows": rows}
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
