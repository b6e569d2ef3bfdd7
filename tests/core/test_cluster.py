"""The cluster hand-off texts: a config the CLI reads back, a torchrun command torchrun parses, a SLURM script bash accepts."""

from __future__ import annotations

import shlex
import shutil
import subprocess

import pytest

from genstudio.cli import _spec_from_args, build_parser
from genstudio.core.cluster import ClusterPlan, config_text, plan_texts, slurm_script, torchrun_command
from genstudio.core.config import ConfigError
from genstudio.core.spec import RunSpec


def _spec() -> RunSpec:
    return RunSpec.create("vae", "digits", {"steps": 1234, "batch_size": 32, "seed": 7}, {"latent_dim": 4}, {"val_fraction": 0.2})


def _torchrun_parse(command: str):
    from torch.distributed.run import get_args_parser

    argv = shlex.split(command)
    assert argv[0] == "torchrun"
    return get_args_parser().parse_args(argv[1:])


def test_config_round_trips_through_the_cli(tmp_path):
    spec = _spec()
    plan = ClusterPlan(config_path=str(tmp_path / "run.toml"), out=str(tmp_path / "out"), device="cpu")
    (tmp_path / "run.toml").write_text(config_text(spec, plan))
    argv = shlex.split(torchrun_command(plan))
    args = build_parser().parse_args(argv[argv.index("-m") + 2 :])
    assert args.command == "train" and args.config == plan.config_path and args.out == plan.out
    back = _spec_from_args(args)
    assert back.to_dict() == spec.with_overrides(run={"device": "cpu"}).to_dict()


def test_single_node_command_is_standalone_torchrun():
    cmd = torchrun_command(ClusterPlan(nproc_per_node=2, config_path="a b.toml", out="runs/x"))
    a = _torchrun_parse(cmd)
    assert a.standalone and a.nproc_per_node == "2" and a.module and a.training_script == "genstudio"
    assert a.training_script_args == ["train", "--config", "a b.toml", "--out", "runs/x"]  # quoted path survives


def test_multi_node_command_uses_c10d_rendezvous():
    a = _torchrun_parse(torchrun_command(ClusterPlan(nnodes=3, nproc_per_node=4, gpus_per_node=4, port=29600)))
    assert a.nnodes == "3" and a.nproc_per_node == "4"
    assert a.rdzv_backend == "c10d" and a.rdzv_endpoint == "MASTER_HOST:29600"


def test_slurm_script_runs_torchrun_per_node_and_resumes(tmp_path):
    plan = ClusterPlan(nnodes=2, nproc_per_node=4, gpus_per_node=4, cpus_per_node=32, partition="gpu", out="runs/my run", time_limit="04:00:00")
    script = slurm_script(plan)
    assert script.startswith("#!/bin/bash\n")
    for line in ("#SBATCH --nodes=2", "#SBATCH --gpus-per-node=4", "#SBATCH --partition=gpu", "#SBATCH --time=04:00:00", "export OMP_NUM_THREADS=8"):
        assert line in script
    srun = script[script.index("srun ") :].replace("\\\n", " ")  # the command with its continuation lines joined
    assert '--nnodes "$SLURM_NNODES"' in srun and "--nproc-per-node 4" in srun
    assert "--rdzv-backend c10d" in srun and '--rdzv-endpoint "$MASTER:29500"' in srun and "-m genstudio" in srun
    assert "ARGS=(train --out 'runs/my run' --resume)" in script
    if shutil.which("bash"):
        path = tmp_path / "job.sh"
        path.write_text(script)
        assert subprocess.run(["bash", "-n", str(path)], capture_output=True).returncode == 0
        # Run it with srun/scontrol stubbed: the script hands torchrun exactly the arguments we expect.
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        (bin_dir / "scontrol").write_text("#!/bin/sh\necho node-a\necho node-b\n")
        (bin_dir / "srun").write_text('#!/bin/sh\nfor a in "$@"; do echo "$a"; done\n')
        for f in bin_dir.iterdir():
            f.chmod(0o755)
        script_no_setup = script.replace("source .venv/bin/activate\n", "")
        path.write_text(script_no_setup)
        env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "SLURM_JOB_NODELIST": "node-[a-b]", "SLURM_NNODES": "2", "SLURM_JOB_ID": "42"}
        out = subprocess.run(["bash", str(path)], capture_output=True, text=True, env=env, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        argv = out.stdout.splitlines()
        a = _torchrun_parse(shlex.join(argv))
        assert a.nnodes == "2" and a.rdzv_endpoint == "node-a:29500" and a.rdzv_id == "42"
        assert a.training_script_args == ["train", "--config", plan.config_path, "--out", "runs/my run"]
        (tmp_path / "runs" / "my run").mkdir(parents=True)
        (tmp_path / "runs" / "my run" / "meta.json").write_text("{}")
        out = subprocess.run(["bash", str(path)], capture_output=True, text=True, env=env, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        assert out.stdout.splitlines()[-4:] == ["train", "--out", "runs/my run", "--resume"]


@pytest.mark.parametrize(
    "change,words",
    [
        ({"nproc_per_node": 0}, "processes per node"),
        ({"nnodes": 0}, "nodes"),
        ({"port": 70000}, "port"),
        ({"device": "mps"}, "device"),
        ({"nproc_per_node": 8, "gpus_per_node": 4}, "own GPU"),
        ({"out": " "}, "out must not be empty"),
        ({"job_name": "my job"}, "no spaces"),
    ],
)
def test_bad_plans_are_refused_with_a_reason(change, words):
    with pytest.raises(ConfigError, match=words):
        plan_texts(_spec(), ClusterPlan(**change))
