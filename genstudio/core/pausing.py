"""The point between two steps where a run stops, pauses, waits or takes one single step.

The caller's thread steers the run through a :class:`~genstudio.core.events.RunControl`
(stop, pause, resume, step once, save now); the loop asks :func:`pause_point`
before every step. While paused, the clock stands still, ``meta.json`` says
"paused", and a save request is served at once, so a paused run can be
checkpointed and closed.
"""

from __future__ import annotations

from typing import Generator

from .events import Event, Paused
from .run_state import RunState

WAIT_S = 0.05  # how often a paused loop looks at the control


def pause_point(state: RunState) -> Generator[Event, None, bool]:
    """Whether to take a step now (``yield from`` it); False when the run is stopped or still paused.

    Sets ``state.single`` when the step to take is a single step asked for
    while paused (the jobs log and preview after each one).
    """
    control = state.control
    state.single = False
    if control.stopped:
        state.stop()
        return False
    if not control.paused:
        return True
    if not control.has_single_steps():
        yield from _wait_while_paused(state)
        if control.stopped:
            state.stop()
            return False
        state.run.update_meta(status="running")
        if not control.paused:
            yield Paused(step=state.step, paused=False)
    state.single = control.take_single_step()
    return state.single or not control.paused


def _wait_while_paused(state: RunState) -> Generator[Event, None, None]:
    """Record the pause, then wait for resume, a single step or stop, saving when asked."""
    control = state.control
    state.clock.pause()
    state.run.update_meta(status="paused", step=state.step, wall_time_s=state.wall_time())
    yield Paused(step=state.step, paused=True)
    while control.paused and not control.stopped and not control.has_single_steps():
        control.wait(WAIT_S)
        if control.take_save_request() and state.last_ckpt_step != state.step:
            yield from state.checkpoint()
    state.clock.resume()
