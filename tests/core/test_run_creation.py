"""RunFolder.create refuses a folder that holds a run or other files, but reuses one that a create cut off
by a kill left behind (no meta.json: nothing was ever trained there)."""

from __future__ import annotations

import pytest

from genstudio.core.runs import RunError, RunFolder
from genstudio.core.spec import RunSpec


def spec() -> RunSpec:
    return RunSpec.create("toy", "moons", {"steps": 100}, {}, {})


def cut_off(path, upto: int) -> None:
    """What create leaves when killed after its first ``upto`` writes (the order it makes them in)."""
    path.mkdir(parents=True)
    writes = [
        lambda: (path / "checkpoints").mkdir(),
        lambda: (path / "samples").mkdir(),
        lambda: (path / "config.toml").write_text(spec().to_toml()),
        lambda: (path / "metrics.jsonl").touch(),
    ]
    for write in writes[:upto]:
        write()


@pytest.mark.parametrize("upto", range(5))
def test_a_creation_cut_off_at_any_write_is_created_again(tmp_path, upto):
    folder = tmp_path / "run"
    cut_off(folder, upto)
    run = RunFolder.create(folder, spec(), {"model": "toy", "dataset": "moons"})
    assert run.exists() and run.meta["status"] == "created"


def test_meta_json_is_the_last_thing_create_writes(tmp_path, monkeypatch):
    """So a folder with meta.json is always complete: every other file is there before it."""
    seen = []
    original = RunFolder.write_meta

    def spy(self, meta):
        seen.append(sorted(q.name for q in self.path.iterdir()))
        original(self, meta)

    monkeypatch.setattr(RunFolder, "write_meta", spy)
    RunFolder.create(tmp_path / "run", spec(), {"model": "toy"})
    assert seen == [["checkpoints", "config.toml", "metrics.jsonl", "samples"]]


@pytest.mark.parametrize("what", ["meta", "checkpoint", "metrics", "other"])
def test_a_folder_with_anything_trained_or_foreign_is_refused(tmp_path, what):
    folder = tmp_path / "run"
    cut_off(folder, 4)
    if what == "meta":
        (folder / "meta.json").write_text('{"status": "created"}')
    elif what == "checkpoint":
        (folder / "checkpoints" / "step_00000010.safetensors").write_bytes(b"x")
    elif what == "metrics":
        (folder / "metrics.jsonl").write_text('{"step": 1}\n')
    else:
        (folder / "notes.txt").write_text("mine")
    with pytest.raises(RunError, match="already exists and is not empty"):
        RunFolder.create(folder, spec(), {"model": "toy"})
    if what == "other":
        assert (folder / "notes.txt").read_text() == "mine"
