"""Hand a configured run to a cluster: the config file, the torchrun command, a SLURM batch script.

The studio configures a run; a cluster trains it. :func:`plan_texts` turns a
:class:`~genstudio.core.spec.RunSpec` and a :class:`ClusterPlan` into three
texts the user copies: the run's config (a TOML ``genstudio train --config``
accepts), the exact ``torchrun`` command, and a SLURM script that starts one
``torchrun`` per node with ``srun`` and a c10d rendezvous on the first node.
No Qt here; the dialog in ``genstudio/ui/cluster_dialog.py`` only shows them.

The script resumes the run when its folder already holds one (``--resume``),
so a requeued or time-limited job continues where the last one stopped.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from .config import ConfigError
from .spec import RunSpec

DEFAULT_PORT = 29500


@dataclass
class ClusterPlan:
    """Where and how the run trains on the cluster."""

    config_path: str = "genstudio-run.toml"  # where the config is written (a path the cluster's nodes can read)
    out: str = "runs/cluster-run"  # the run folder on the cluster (shared between nodes for multi-node resume)
    nnodes: int = 1
    nproc_per_node: int = 1  # processes per node: one per GPU, or a few on CPU nodes
    device: str = "auto"  # auto, cpu or cuda (each local rank takes its own GPU)
    port: int = DEFAULT_PORT  # rendezvous port on the first node
    job_name: str = "genstudio"
    time_limit: str = "02:00:00"  # SLURM --time (HH:MM:SS or D-HH:MM:SS)
    partition: str = ""  # SLURM --partition; empty: the cluster's default
    gpus_per_node: int = 0  # SLURM --gpus-per-node; 0: CPU nodes
    cpus_per_node: int = 8  # SLURM --cpus-per-task (one task per node: torchrun)
    setup: str = "source .venv/bin/activate"  # shell line(s) that put genstudio on PATH on the nodes

    def validate(self) -> None:
        """Raise ConfigError naming the first value that cannot work."""
        if self.nnodes < 1:
            raise ConfigError(f"nodes must be at least 1, got {self.nnodes}")
        if self.nproc_per_node < 1:
            raise ConfigError(f"processes per node must be at least 1, got {self.nproc_per_node}")
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"port must be in 1..65535, got {self.port}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"device must be auto, cpu or cuda under torchrun (each rank picks its GPU), got '{self.device}'")
        if self.gpus_per_node < 0 or self.cpus_per_node < 1:
            raise ConfigError("GPUs per node must be 0 or more and CPUs per node at least 1")
        if self.gpus_per_node and self.nproc_per_node > self.gpus_per_node and self.device != "cpu":
            raise ConfigError(
                f"{self.nproc_per_node} processes per node but {self.gpus_per_node} GPUs per node: "
                "each process needs its own GPU; lower the processes or raise the GPUs"
            )
        for name in ("config_path", "out", "job_name", "time_limit"):
            if not str(getattr(self, name)).strip():
                raise ConfigError(f"{name.replace('_', ' ')} must not be empty")
        if any(c.isspace() for c in self.job_name):
            raise ConfigError(f"job name must have no spaces, got '{self.job_name}'")

    @property
    def world_size(self) -> int:
        return self.nnodes * self.nproc_per_node


def config_text(spec: RunSpec, plan: ClusterPlan) -> str:
    """The run's config as ``genstudio train --config`` reads it, with the cluster's device."""
    return spec.with_overrides(run={"device": plan.device}).to_toml()


def train_args(plan: ClusterPlan, resume: bool = False) -> list[str]:
    """The arguments after ``-m genstudio``."""
    if resume:
        return ["train", "--out", plan.out, "--resume"]
    return ["train", "--config", plan.config_path, "--out", plan.out]


def torchrun_args(plan: ClusterPlan, endpoint: str = "localhost") -> list[str]:
    """torchrun's own options: standalone on one node, a c10d rendezvous at ``endpoint`` on several."""
    if plan.nnodes == 1:
        return ["--standalone", "--nproc-per-node", str(plan.nproc_per_node)]
    return [
        "--nnodes", str(plan.nnodes),
        "--nproc-per-node", str(plan.nproc_per_node),
        "--rdzv-backend", "c10d",
        "--rdzv-endpoint", f"{endpoint}:{plan.port}",
        "--rdzv-id", plan.job_name,
    ]  # fmt: skip


def torchrun_command(plan: ClusterPlan, endpoint: str = "MASTER_HOST") -> str:
    """The exact shell command to run (on every node, for several nodes)."""
    plan.validate()
    args = ["torchrun", *torchrun_args(plan, endpoint), "-m", "genstudio", *train_args(plan)]
    return " ".join(shlex.quote(a) for a in args)


def slurm_script(plan: ClusterPlan) -> str:
    """A SLURM batch script: one task per node, each running torchrun, rendezvous on the first node."""
    plan.validate()
    q = shlex.quote
    sbatch = [
        f"#SBATCH --job-name={plan.job_name}",
        f"#SBATCH --nodes={plan.nnodes}",
        "#SBATCH --ntasks-per-node=1  # one torchrun per node; it starts the processes",
        f"#SBATCH --cpus-per-task={plan.cpus_per_node}",
        f"#SBATCH --time={plan.time_limit}",
        "#SBATCH --output=%x-%j.out",
    ]
    if plan.gpus_per_node:
        sbatch.insert(3, f"#SBATCH --gpus-per-node={plan.gpus_per_node}")
    if plan.partition.strip():
        sbatch.insert(1, f"#SBATCH --partition={plan.partition.strip()}")
    threads = max(1, plan.cpus_per_node // plan.nproc_per_node)
    lines = [
        "#!/bin/bash",
        *sbatch,
        "",
        f"# genstudio: {plan.world_size} process(es) = {plan.nnodes} node(s) x {plan.nproc_per_node}.",
        "# Submit with: sbatch this-file.sh   (the config file and run folder paths are relative to where you submit)",
        "set -euo pipefail",
        *[line for line in plan.setup.splitlines() if line.strip()],
        "",
        "# The first node of the allocation hosts the rendezvous (sed reads all lines: no SIGPIPE under pipefail).",
        'MASTER=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | sed -n 1p)',
        f"export OMP_NUM_THREADS={threads}",
        "",
        "# A requeued or time-limited job continues the run it started.",
        f"ARGS=({' '.join(q(a) for a in train_args(plan))})",
        f"if [ -f {q(plan.out + '/meta.json')} ]; then",
        f"  ARGS=({' '.join(q(a) for a in train_args(plan, resume=True))})",
        "fi",
        "",
        f'srun torchrun --nnodes "$SLURM_NNODES" --nproc-per-node {plan.nproc_per_node} \\',
        f'    --rdzv-id "$SLURM_JOB_ID" --rdzv-backend c10d --rdzv-endpoint "$MASTER:{plan.port}" \\',
        '    -m genstudio "${ARGS[@]}"',
    ]
    return "\n".join(lines) + "\n"


def plan_texts(spec: RunSpec, plan: ClusterPlan) -> dict[str, str]:
    """{"config": TOML, "command": torchrun command, "script": SLURM script} for the dialog."""
    plan.validate()
    return {"config": config_text(spec, plan), "command": torchrun_command(plan), "script": slurm_script(plan)}
