"""Alarms: each fires once with its explanation, clears, and reaches the engine's event stream."""

from __future__ import annotations

from types import SimpleNamespace

from genstudio.core.alarms import WIN_LOGS, AlarmMonitor
from genstudio.core.engine import train
from genstudio.core.events import Notice
from genstudio.core.spec import RunSpec


def test_discriminator_wins_after_a_streak_and_fires_once():
    mon = AlarmMonitor(SimpleNamespace(d_output_kind="probability"))
    won = {"d_real": 0.99, "d_fake": 0.01, "d_loss": 0.02}
    out = [mon.update(won) for _ in range(WIN_LOGS + 3)]
    assert [len(o) for o in out] == [0] * (WIN_LOGS - 1) + [1, 0, 0, 0]
    assert "discriminator is winning" in out[WIN_LOGS - 1][0]
    assert mon.update({"d_real": 0.6, "d_fake": 0.4}) == []  # clears...
    assert [len(mon.update(won)) for _ in range(WIN_LOGS)][-1] == 1  # ...and can fire again
    # A critic's raw scores are not probabilities: no alarm.
    critic = AlarmMonitor(SimpleNamespace(d_output_kind="score"))
    assert not any(critic.update({"d_real": 5.0, "d_fake": -5.0}) for _ in range(3 * WIN_LOGS))


def test_mode_collapse_posterior_collapse_and_dead_codes():
    mon = AlarmMonitor(SimpleNamespace(latent_dim=16))
    assert mon.update({"modes": 8}, "val") == []
    msgs = mon.update({"modes": 5}, "val")
    assert len(msgs) == 1 and "cover 5 modes, down from 8" in msgs[0]
    div = AlarmMonitor()
    assert div.update({"diversity": 0.1}, "val") == []  # a fresh G: collapsed from the start, no alarm
    assert div.update({"diversity": 0.9}, "val") == []
    assert "down from 0.90x" in div.update({"diversity": 0.1}, "val")[0]
    assert "Posterior collapse: 2 of 16" in mon.update({"active_dims": 2}, "val")[0]
    assert mon.update({"active_dims": 12}, "val") == []
    vq = AlarmMonitor(SimpleNamespace(num_codes=64))
    assert "only 10 of 64 codes" in vq.update({"codes_used": 10}, "val")[0]
    assert vq.update({"codes_used": 60}, "val") == []


def test_engine_yields_the_alarm_as_a_notice(tmp_path):
    # A fast discriminator against a generator that barely learns: D wins within a few hundred steps.
    spec = RunSpec.create(
        "gan",
        "moons",
        {"steps": 300, "batch_size": 64, "log_every": 5, "sample_every": 0, "preview_every_s": 0, "eval_every": 0, "checkpoint_every": 0, "preview_n": 4},
        {"hidden": 32, "layers": 2, "lr_d": 1e-2, "lr_g": 1e-6},
        {"n_points": 500},
    )
    events = list(train(spec, tmp_path / "run"))
    assert events[-1].status == "completed"
    notices = [e for e in events if isinstance(e, Notice)]
    assert len(notices) == 1 and "discriminator is winning" in notices[0].message


def test_an_alarm_reports_when_its_cause_clears_and_names_only_settings_the_model_has():
    from genstudio.core.alarms import alarm_of, suggested_settings

    gan = SimpleNamespace(d_output_kind="probability", config=SimpleNamespace(lr_d=2e-4, d_steps=1))
    mon = AlarmMonitor(gan)
    won = {"d_real": 0.99, "d_fake": 0.01}
    msgs = [m for _ in range(WIN_LOGS) for m in mon.update(won)]
    assert len(msgs) == 1 and alarm_of(msgs[0]) == "d_wins"
    assert "fewer d_steps" in msgs[0] and "d_channels" not in msgs[0]
    assert mon.cleared == set()
    mon.update({"d_loss": 0.5})  # a record without D's outputs says nothing: still active
    assert mon.active == {"d_wins"} and mon.cleared == set()
    mon.update({"d_real": 0.99, "d_fake": 0.01})  # still winning: stays
    assert mon.cleared == set()
    mon.update({"d_real": 0.7, "d_fake": 0.3})  # D recovered: the alarm clears, once
    assert mon.cleared == {"d_wins"} and not mon.active
    mon.update({"d_real": 0.7, "d_fake": 0.3})
    assert mon.cleared == set()
    # DCGAN has no d_steps: the message must not send the user looking for it.
    dcgan = SimpleNamespace(d_output_kind="probability", config=SimpleNamespace(lr_d=2e-4, d_channels=32))
    assert suggested_settings("d_wins", dcgan) == ["lr_d", "d_channels"]
    dmon = AlarmMonitor(dcgan)
    msg = [m for _ in range(WIN_LOGS) for m in dmon.update(won)][0]
    assert "d_steps" not in msg and "fewer d_channels" in msg
    # Validation alarms clear only on the metric they read.
    vq = AlarmMonitor(SimpleNamespace(num_codes=64))
    assert alarm_of(vq.update({"codes_used": 10}, "val")[0]) == "dead_codes"
    vq.update({"fid": 30.0}, "val")
    assert vq.active == {"dead_codes"} and vq.cleared == set()
    vq.update({"codes_used": 50}, "val")
    assert vq.cleared == {"dead_codes"}
    assert alarm_of("sample quality every 500 steps") is None
