"""Training with several processes under ``torchrun`` (data parallel, like DistributedDataParallel).

``torchrun --nproc-per-node N -m genstudio train ...`` starts N copies of the
command line; torchrun sets RANK, WORLD_SIZE, LOCAL_RANK and the rendezvous
address in their environment. :func:`setup` reads it, joins the process group
(gloo on CPU, NCCL on CUDA, one GPU per local rank) and returns a
:class:`DistContext` the engine consults. With one process it returns
:data:`SINGLE` and installs nothing, so a single-process run pays no overhead.

Why not wrap the model in ``torch.nn.parallel.DistributedDataParallel``: our
models run their own optimisers inside ``train_step`` (a GAN alternates D
and G steps, WGAN-GP takes several critic steps, some parameters are frozen
for part of a step), and DDP averages gradients inside one ``forward`` /
``backward`` of the wrapped module. Instead ``core.model.optimizer_step``
calls :func:`average_gradients` between ``backward`` and the optimiser's
step: the gradients of exactly the parameters that optimiser updates are
summed over ranks in one all-reduce and divided by the world size. Because
every rank then steps from the same averaged gradient, and all start from
rank 0's weights (:meth:`DistContext.start`), the parameters stay identical
on every rank after every step. The finiteness check and clipping in
``optimizer_step`` see the averaged gradient, as they would under DDP.

State that gradients do not reach (buffers such as BatchNorm statistics or a
VQ-VAE's EMA codebook, and parameters no optimiser owns) is broadcast from
rank 0 after every step, as DDP does with buffers. Glow's actnorm averages
its data-dependent initial statistics over ranks itself
(``models/flows/layers.py``).

Each rank draws its own examples (``Dataset.batches(..., rank, world_size)``)
and its own noise (the global RNG of rank r > 0 is re-seeded from the run's
seed, the step and r); rank 0 keeps the run's RNG, so its checkpoint resumes
exactly in a single process. Metrics are averaged over ranks before they are
logged; rank 0 alone writes the run folder (the others get a
:class:`SilentRun`). Checkpoints hold plain, unwrapped weights and can be
resumed with any number of processes. A stop (Ctrl+C, the time limit) is
agreed on by all ranks in one small all-reduce per step, so they stop at the
same step.

Limits: communication does not overlap the backward pass (fine for the
classic models here, whose steps are short); resuming with a different
number of processes continues from the same step but cannot replay exactly
the batches an uninterrupted run would have drawn; multi-node resume needs
the run folder on a filesystem every node sees.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from .config import ConfigError
from .runs import RunFolder

#: Set to a folder to make every rank append a checksum of its parameters after
#: every step to ``<folder>/rank<r>.jsonl`` (tests compare them across ranks).
CHECKSUM_ENV = "GENSTUDIO_TEST_PARAM_CHECKSUMS"


@dataclass
class DistContext:
    """Where this process stands among the processes torchrun started."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    backend: str = ""
    #: tensors broadcast from rank 0 after every step (filled by :meth:`start`)
    _synced: list[torch.Tensor] = field(default_factory=list, repr=False)
    _checksum_path: Path | None = field(default=None, repr=False)

    @property
    def active(self) -> bool:
        """True when there is more than one process (and so collectives to run)."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes the run folder and makes previews."""
        return self.rank == 0

    def threads_per_process(self) -> int:
        """Default torch threads under torchrun (0 outside it: let ``configure_threads`` decide).

        torchrun sets OMP_NUM_THREADS=1 when it starts several processes and the user did not set
        it; honour that, else share the node's cores between its processes.
        """
        if not self.active:
            return 0
        omp = os.environ.get("OMP_NUM_THREADS", "")
        if omp.isdigit() and int(omp) > 0:
            return int(omp)
        from .device import cpu_count

        return max(1, cpu_count() // max(1, self.local_world_size))

    # -- start ----------------------------------------------------------------------
    def start(self, model: torch.nn.Module, seed: int, step: int) -> None:
        """Make every rank start from rank 0's weights and draw its own noise from here on."""
        if not self.active:
            return
        _broadcast(list(model.state_dict().values()))
        # Each optimiser's state came from the same checkpoint file (or is empty): already equal.
        covered = {id(p) for opt in getattr(model, "optimizers", dict)().values() for g in opt.param_groups for p in g["params"]}
        shadow = _ema_parameter_ids(model)
        self._synced = list(model.buffers()) + [p for p in model.parameters() if id(p) not in covered and id(p) not in shadow]
        if self.rank > 0:
            mixed = (seed * 1_000_003 + step * 7_919 + self.rank * 104_729) % (2**63)
            random.seed(mixed)
            np.random.seed(mixed % (2**32))
            torch.manual_seed(mixed)
        folder = os.environ.get(CHECKSUM_ENV)
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            self._checksum_path = Path(folder) / f"rank{self.rank}.jsonl"

    # -- every step -------------------------------------------------------------------
    def after_step(self, model: torch.nn.Module, step: int, values: dict[str, float] | None = None) -> None:
        """Broadcast the state gradients do not synchronise (buffers, unoptimised parameters).

        Under :data:`CHECKSUM_ENV` also record this rank's parameter checksum and its own
        (not yet averaged) metrics.
        """
        if self._synced:
            _broadcast(self._synced)
        if self._checksum_path is not None:
            record = {"step": step, "params": parameter_checksum(model), "values": values or {}}
            with open(self._checksum_path, "a") as f:
                f.write(json.dumps(record) + "\n")

    def agree_stop(self, stop: bool, time_up: bool) -> tuple[bool, bool]:
        """(any rank asked to stop, any rank hit the time limit), the same on every rank."""
        flags = torch.tensor([float(stop), float(time_up)], device=_comm_device(self.backend))
        dist.all_reduce(flags, op=dist.ReduceOp.MAX)
        return bool(flags[0] > 0), bool(flags[1] > 0)

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """Average logged metrics over ranks (every rank logs the same names at the same steps)."""
        keys = sorted(values)  # the same order on every rank, whatever order the model logs in
        t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=_comm_device(self.backend))
        dist.all_reduce(t)
        mean = dict(zip(keys, (t / self.world_size).tolist()))
        return {k: mean[k] for k in values}  # the model's order, as one process logs it


SINGLE = DistContext()
_context: DistContext = SINGLE


def context() -> DistContext:
    """The context :func:`setup` made in this process (``SINGLE`` outside torchrun)."""
    return _context


def world_from_env() -> tuple[int, int, int, int]:
    """(rank, world size, local rank, local world size) from torchrun's environment variables."""

    def read(name: str, default: int) -> int:
        raw = os.environ.get(name, "")
        try:
            return int(raw) if raw else default
        except ValueError:
            raise ConfigError(f"environment variable {name}={raw!r} is not an integer (it is set by torchrun)") from None

    world = read("WORLD_SIZE", 1)
    rank = read("RANK", 0)
    local_rank = read("LOCAL_RANK", rank)
    local_world = read("LOCAL_WORLD_SIZE", world)
    if world < 1 or not 0 <= rank < world:
        raise ConfigError(f"RANK={rank} and WORLD_SIZE={world} do not fit (rank must be in 0..WORLD_SIZE-1)")
    return rank, world, local_rank, local_world


def setup(device: torch.device) -> tuple[DistContext, torch.device]:
    """Join torchrun's process group when there are several processes; returns (context, this rank's device).

    ``device`` is the device the run asked for (already resolved). On CUDA each
    local rank takes its own GPU, whatever index was asked for.
    """
    global _context
    rank, world, local_rank, local_world = world_from_env()
    if world == 1:
        return SINGLE, device
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise ConfigError(
                f"local rank {local_rank} has no GPU: this node has {torch.cuda.device_count()}; "
                f"start at most that many processes per node (--nproc-per-node)"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    elif device.type == "cpu":
        backend = "gloo"
    else:
        raise ConfigError(f"training with several processes needs device cpu or cuda, not {device.type}; pass --device cpu")
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
    _context = DistContext(rank=rank, world_size=world, local_rank=local_rank, local_world_size=local_world, backend=backend)
    _set_gradient_hook(_context)
    return _context, device


def shutdown() -> None:
    """Leave the process group (the end of ``genstudio train`` under torchrun)."""
    global _context, grad_sync
    grad_sync = None
    _context = SINGLE
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


# -- gradients ------------------------------------------------------------------------------

#: Called by ``core.model.optimizer_step`` between backward and step; None with one process.
grad_sync = None


def _set_gradient_hook(ctx: DistContext) -> None:
    global grad_sync
    grad_sync = average_gradients if ctx.active else None


def average_gradients(optimizer: torch.optim.Optimizer) -> None:
    """Replace the gradients of ``optimizer``'s parameters by their mean over ranks.

    One all-reduce per dtype. A parameter without a gradient on some ranks
    counts as zero there (DDP's rule for unused parameters); one without a
    gradient on every rank keeps ``grad=None``, so the optimiser skips it as
    it would in one process.
    """
    world = dist.get_world_size()
    params = [p for g in optimizer.param_groups for p in g["params"] if p.requires_grad]
    if not params:
        return
    by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
    for p in params:
        by_dtype.setdefault(p.dtype, []).append(p)
    for group in by_dtype.values():
        dev = group[0].device
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in group]
        present = torch.tensor([p.grad is not None for p in group], dtype=group[0].dtype, device=dev)
        flat = torch.cat([g.reshape(-1) for g in grads] + [present])
        dist.all_reduce(flat)
        counts = flat[-len(group) :]
        offset = 0
        for p, c in zip(group, counts.tolist()):
            n = p.numel()
            if c > 0:
                avg = flat[offset : offset + n].view_as(p).div_(world)
                if p.grad is None:
                    p.grad = avg.clone()
                else:
                    p.grad.copy_(avg)
            offset += n


# -- helpers ----------------------------------------------------------------------------------


def _comm_device(backend: str) -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if backend == "nccl" else torch.device("cpu")


def _broadcast(tensors: list[torch.Tensor]) -> None:
    """Broadcast tensors in place from rank 0, one collective per (device, dtype)."""
    groups: dict[tuple[torch.device, torch.dtype], list[torch.Tensor]] = {}
    for t in tensors:
        if t.numel():
            groups.setdefault((t.device, t.dtype), []).append(t)
    for (_, dtype), group in groups.items():
        # gloo and NCCL have no bool type: travel as uint8.
        wire = torch.uint8 if dtype == torch.bool else dtype
        flat = torch.cat([t.detach().reshape(-1).to(wire) for t in group])
        dist.broadcast(flat, src=0)
        offset = 0
        with torch.no_grad():
            for t in group:
                n = t.numel()
                t.copy_(flat[offset : offset + n].view_as(t).to(dtype))
                offset += n


def _ema_parameter_ids(model: torch.nn.Module) -> set[int]:
    """Parameters of EMA shadow copies: updated identically on every rank from identical weights."""
    from .ema import EMA

    return {id(q) for m in model.modules() if isinstance(m, EMA) for q in m.shadow.parameters()}


def parameter_checksum(model: torch.nn.Module) -> str:
    """SHA-256 of every parameter's bytes, in ``named_parameters`` order (equal only if bit-identical)."""
    h = hashlib.sha256()
    for name, p in model.named_parameters():
        h.update(name.encode())
        h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


class SilentRun(RunFolder):
    """The run folder as ranks other than 0 see it: they read nothing from it and write nothing to it.

    One exception: a rank whose own run fails or diverges records that in
    ``meta.json`` while the run still says "running". A NaN loss or a crash on
    one rank leaves rank 0 waiting in the next collective until torchrun kills
    it, so rank 0 would never write the final status and the run would read
    "running" for ever.
    """

    FAILED = ("failed", "diverged")

    def __init__(self, path: str | Path, latest: int | None = None, rank: int = 1):
        super().__init__(path)
        self._latest = latest
        self.rank = rank

    def update_meta(self, **changes: Any) -> dict[str, Any]:
        if changes.get("status") not in self.FAILED or not self.meta_path.is_file():
            return {}
        if RunFolder(self.path).meta.get("status") != "running":  # rank 0 got there first
            return {}
        changes["message"] = f"rank {self.rank}: {changes.get('message', '')}"
        return RunFolder(self.path).update_meta(**changes, failed_rank=self.rank)

    def write_meta(self, meta: dict[str, Any]) -> None:
        pass

    def append_metrics(self, records: list[dict[str, Any]]) -> None:
        pass

    def truncate_metrics_after(self, step: int) -> None:
        pass

    def save_checkpoint(self, step: int, weights: dict[str, torch.Tensor], state: dict[str, Any]) -> Path:
        self._latest = step
        return self.checkpoint_dir / f"step_{step:08d}.safetensors"

    def latest_checkpoint(self) -> int | None:
        return self._latest


class AgreedControl:
    """A RunControl whose ``stopped`` changes only when all ranks agree, at the same step.

    Every rank receives Ctrl+C (or reaches its time limit) at a slightly
    different moment; a rank that stopped alone would leave the others waiting
    in the next collective. The engine calls :meth:`agree` once per step.
    """

    def __init__(self, inner: Any):
        self._inner = inner
        self._stopped = False

    @property
    def stopped(self) -> bool:
        return self._stopped

    def agree(self, ctx: DistContext, time_up: bool) -> bool:
        """Share this rank's stop request and time limit; returns whether any rank hit the limit."""
        stop, time_up = ctx.agree_stop(self._inner.stopped, time_up)
        self._stopped = self._stopped or stop
        return time_up

    def __getattr__(self, name: str) -> Any:  # pause, single steps, save and preview requests
        return getattr(self._inner, name)
