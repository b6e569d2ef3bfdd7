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

Leaving: ``genstudio train`` calls :func:`shutdown` on every way out. After a
normal end (every rank completed or stopped at the same, agreed step) the
ranks meet in a barrier, then destroy the process group, which joins gloo's
worker and network threads. A rank whose run failed skips the barrier (its
peers are waiting in some other collective) and records what happened in the
rendezvous store torchrun keeps, *before* its connections close; a peer whose
collective then breaks reads that record and fails with a message naming the
rank and its error (:class:`RankFailed`, or a NonFiniteError for a NaN) instead of
gloo's "connection closed". The first record wins, so the run's ``meta.json``
names the rank where the run went wrong, and torchrun's exit code is non-zero.

Why the process group must really be destroyed: a ProcessGroupGloo still
alive at interpreter exit keeps two worker threads and a network thread
running while the interpreter and then C++ static objects are torn down; when
a peer closes its connections in that window the process dies with
"terminate called without an active exception" (SIGABRT), after a run that
completed. ``destroy_process_group`` only drops torch's own references, and
``torch.distributed.nn.functional`` binds ``group.WORLD`` into ten default
arguments when it is imported; it is imported by ``torch._dynamo``, which the
first optimiser a model builds imports lazily, after :func:`setup`. So
:func:`setup` imports it before the group exists (see ``_WORLD_BINDING_MODULES``).

Limits: communication does not overlap the backward pass (fine for the
classic models here, whose steps are short); resuming with a different
number of processes continues from the same step but cannot replay exactly
the batches an uninterrupted run would have drawn; multi-node resume needs
the run folder on a filesystem every node sees.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import random
import sys
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import torch.distributed as dist

from . import model as _model
from .config import ConfigError
from .events import Event, Finished, RunStarted
from .model import NonFiniteError
from .runs import RunError, RunFolder

#: Set to a folder to make every rank append a checksum of its parameters after
#: every step to ``<folder>/rank<r>.jsonl`` (tests compare them across ranks).
CHECKSUM_ENV = "GENSTUDIO_TEST_PARAM_CHECKSUMS"

#: torch modules that bind ``group.WORLD`` into default arguments when first imported: imported
#: with a live process group they pin it, and destroy_process_group can no longer free it (see
#: the module docstring). Importing them before the group exists binds None instead.
_WORLD_BINDING_MODULES = ("torch.distributed.nn.functional",)

#: Keys in torchrun's rendezvous store under which a failing rank leaves its report.
_FAILURE_SEQ = "genstudio/failure-seq"
_FAILURE_KEY = "genstudio/failure/rank{}"
_ENDED = ("completed", "stopped")


class RankFailed(RunError):
    """Another rank failed, and this rank's collective broke because that rank left."""


@dataclass(frozen=True)
class FailureReport:
    """What a rank that failed on its own left in the store for its peers."""

    rank: int
    status: str
    message: str
    step: int = 0  # steps done when it failed; -1: before training started
    term: str | None = None
    seq: int = 0

    def to_exception(self) -> Exception:
        """The error a peer raises when its collective breaks because this rank left.

        A divergence stays one (a NonFiniteError, so the peer's run ends 'diverged' too).
        """
        if self.step < 0:
            return RankFailed(f"rank {self.rank} {self.status} before training started: {self.message}")
        at = self.step + 1  # ``step`` counts the steps done: the fault came in the next one
        if self.status == "diverged" and self.term:
            e = NonFiniteError(self.term, at)
            e.args = (f"on rank {self.rank}, '{self.term}' became non-finite (NaN or inf); try a lower learning rate",)
            return e
        return RankFailed(f"rank {self.rank} {self.status} at step {at}: {self.message}")


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
    #: torchrun's rendezvous store (a client of it), where failures are reported; None without one
    store: Any = field(default=None, repr=False)
    #: the run folder and the last event of this rank's run (:func:`follow` fills them)
    run_dir: str | None = None
    final: Finished | None = None
    #: set when this rank stopped because another rank failed (so it reports nothing itself)
    peer_failure: FailureReport | None = None

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
        _collective(dist.all_reduce, flags, op=dist.ReduceOp.MAX)
        return bool(flags[0] > 0), bool(flags[1] > 0)

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """Average logged metrics over ranks (every rank logs the same names at the same steps)."""
        keys = sorted(values)  # the same order on every rank, whatever order the model logs in
        t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=_comm_device(self.backend))
        _collective(dist.all_reduce, t)
        mean = dict(zip(keys, (t / self.world_size).tolist()))
        return {k: mean[k] for k in values}  # the model's order, as one process logs it

    # -- failures -------------------------------------------------------------------------
    def report_failure(self, status: str, message: str, step: int = 0, term: str | None = None) -> None:
        """Leave this rank's failure in the store for its peers (call before the connections close)."""
        if self.store is None:
            return
        try:
            seq = int(self.store.add(_FAILURE_SEQ, 1))
            record = {"rank": self.rank, "status": status, "message": message, "step": step, "term": term, "seq": seq}
            self.store.set(_FAILURE_KEY.format(self.rank), json.dumps(record))
        except Exception as e:  # noqa: BLE001 - the store may be gone with torchrun's agent; the exit code still tells
            print(f"rank {self.rank}: could not report the failure to the other ranks: {e}", file=sys.stderr)

    def first_failure(self) -> FailureReport | None:
        """The earliest failure another rank reported, or None."""
        if self.store is None:
            return None
        found = []
        for r in range(self.world_size):
            key = _FAILURE_KEY.format(r)
            try:
                if r != self.rank and self.store.check([key]):
                    found.append(FailureReport(**json.loads(self.store.get(key))))
            except Exception:  # noqa: BLE001 - an unreadable store means no report, not a second failure
                continue
        return min(found, key=lambda f: f.seq) if found else None


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
    ctx = DistContext(rank=rank, world_size=world, local_rank=local_rank, local_world_size=local_world, backend=backend)
    ctx.store = _store_client()
    if not dist.is_initialized():
        for name in _WORLD_BINDING_MODULES:  # before the group exists, or they pin it (module docstring)
            importlib.import_module(name)
        try:
            dist.init_process_group(backend=backend, rank=rank, world_size=world)
        except RuntimeError:  # a peer refused the run (its --out, say) while this rank was connecting
            peer = ctx.first_failure()
            if peer is None:
                raise
            raise peer.to_exception() from None
    _context = ctx
    _set_gradient_hook(_context)
    return _context, device


def follow(events: Iterator[Event]) -> Iterator[Event]:
    """Pass the engine's events through, keeping the run folder and the final event for :func:`shutdown`."""
    ctx = _context
    for ev in events:
        if ctx.active:
            if isinstance(ev, RunStarted):
                ctx.run_dir = ev.run_dir
            elif isinstance(ev, Finished):
                ctx.final = ev
        yield ev


def shutdown(error: BaseException | None = None) -> bool:
    """Leave the process group in order (the end of ``genstudio train`` under torchrun, on every way out).

    ``error`` is the exception ending the command, if one does. After a normal
    end the ranks meet in a barrier first; a rank that failed reports it to
    its peers instead (module docstring). Then the process group is destroyed,
    joining gloo's threads. Returns False when this rank or a peer failed, so
    the exit code can say so.
    """
    global _context
    ctx = _context
    ok = True
    try:
        if ctx.active and dist.is_available() and dist.is_initialized():
            final = ctx.final
            if error is None and final is not None and final.status in _ENDED:
                ok = _barrier(ctx)
            else:
                ok = False
                if ctx.peer_failure is None:  # the run went wrong here, not because a peer left
                    _report_own_failure(ctx, final, error)
    finally:
        _model.gradient_sync = None
        _context = SINGLE
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
        ctx.store = None
    return ok


def _barrier(ctx: DistContext) -> bool:
    """Wait until every rank has ended its run; False (with one line) when a peer failed meanwhile."""
    try:
        if ctx.backend == "nccl":
            dist.barrier(device_ids=[torch.cuda.current_device()])
        else:
            dist.barrier()
        return True
    except RuntimeError as e:  # a peer failed after this rank's last step (its final checkpoint, say)
        peer = ctx.first_failure()
        why = peer.to_exception() if peer is not None else e
        print(f"rank {ctx.rank}: finished, but another rank did not: {why}", file=sys.stderr)
        return False


def _report_own_failure(ctx: DistContext, final: Finished | None, error: BaseException | None) -> None:
    if final is not None and final.status not in _ENDED:
        status, message, step, term = final.status, final.message, final.step, final.term
    else:  # the command ended by an exception: before the first event (step -1), or Ctrl+C twice
        status, step, term = "failed", final.step if final is not None else -1, None
        message = f"{type(error).__name__}: {error}" if error is not None else "stopped without finishing"
    ctx.report_failure(status, message, step, term)
    if ctx.is_main and ctx.run_dir and status in SilentRun.FAILED:
        # Rank 0 wrote the final status itself; say which rank it was, as the other ranks do.
        try:
            run = RunFolder(ctx.run_dir)
            meta = run.meta
            if meta.get("status") in SilentRun.FAILED and "failed_rank" not in meta:
                run.update_meta(message=f"rank 0: {meta.get('message', message)}", failed_rank=0)
        except (OSError, ValueError, RunError) as e:  # a full disk, say: the status is written already; the exit code says it
            print(f"rank 0: could not add the rank to {ctx.run_dir}/meta.json: {e}", file=sys.stderr)


def _store_client() -> Any:
    """A client of torchrun's rendezvous store (MASTER_ADDR:MASTER_PORT), or None where there is none."""
    host, port = os.environ.get("MASTER_ADDR"), os.environ.get("MASTER_PORT", "")
    if not host or not port.isdigit():
        return None
    try:
        return dist.TCPStore(host, int(port), is_master=False, timeout=timedelta(seconds=30))
    except Exception:  # noqa: BLE001 - failures are then reported by exit codes alone
        return None


def _collective(fn, *args: Any, **kwargs: Any) -> Any:
    """Run one collective; when it breaks because another rank failed, raise that rank's error instead."""
    try:
        return fn(*args, **kwargs)
    except RuntimeError:
        ctx = _context
        peer = ctx.first_failure() if ctx.active else None
        if peer is None:
            raise  # no rank reported a failure: this error is the news (a killed rank, a network fault)
        ctx.peer_failure = peer
        raise peer.to_exception() from None


# -- gradients ------------------------------------------------------------------------------

def _set_gradient_hook(ctx: DistContext) -> None:
    # ``core.model.optimizer_step`` calls it between backward and step.
    _model.gradient_sync = average_gradients if ctx.active else None


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
        _collective(dist.all_reduce, flat)
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
        _collective(dist.broadcast, flat, src=0)
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
