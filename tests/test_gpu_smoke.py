"""benchmarks/gpu_smoke.py without CUDA: it says the GPU path is not measured, writes nothing and exits 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_without_cuda_it_says_so_and_exits_0(tmp_path):
    results = tmp_path / "gpu_smoke.json"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # no GPU visible, even on a machine that has one
    done = subprocess.run([sys.executable, str(BENCHMARKS / "gpu_smoke.py"), "--results", str(results)],
                          cwd=BENCHMARKS, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "CUDA is not available" in done.stdout and "not measured" in done.stdout
    assert not results.exists()


def test_each_model_gets_a_dataset_of_a_kind_it_supports():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import gpu_smoke
    finally:
        sys.path.remove(str(BENCHMARKS))
    from genstudio.core.registry import get_model_class, model_ids
    from genstudio.data.dataset import load_dataset

    for model_id in model_ids():
        cls = get_model_class(model_id)
        dataset = gpu_smoke.dataset_for(cls)
        assert dataset in gpu_smoke.DATASETS.values()
        assert load_dataset(dataset).info.kind in cls.data_kinds, (model_id, dataset)
    assert gpu_smoke.quiet_run(300)["device"] == "cuda"
