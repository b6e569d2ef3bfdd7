"""The form's line for an opened run: what that run took, from its meta.json (estimate_job.run_facts_text)."""

from __future__ import annotations

from genstudio.ui.estimate_job import run_facts_text


def test_a_finished_run_says_its_steps_time_rate_and_status():
    text = run_facts_text({"step": 1200, "total_steps": 1200, "wall_time_s": 288.0, "device": "cpu", "status": "completed"})
    assert text == "<b>This run:</b> 1,200 of 1,200 steps in 4:48 (0.24 s a step on cpu), completed."


def test_a_fast_run_gives_steps_per_second():
    assert "(250 steps/s)" in run_facts_text({"step": 500, "total_steps": 1000, "wall_time_s": 2.0})


def test_a_run_without_time_or_total_says_what_it_has():
    assert run_facts_text({"step": 3}) == "<b>This run:</b> 3 steps."
    assert run_facts_text({}) == "<b>This run:</b> 0 steps."
