"""A short load test against one real server: 2 students draw digits while 1 trains.

The full load test, with more sessions and the training-limit check, is ``benchmarks/bench_load.py``;
this test runs the same code at CI size.
"""

from __future__ import annotations

import pytest

from benchmarks.bench_load import run_load
from tests.conftest import ON_CI, chromium_path


pytestmark = pytest.mark.system  # a load test

@pytest.mark.browser
@pytest.mark.slow
def test_drawing_sessions_get_predictions_while_another_student_trains() -> None:
    if chromium_path() is None:
        if ON_CI:
            pytest.fail("CI=true but chromium is not installed: .ci/run must install it.")
        pytest.skip("chromium not installed (apt-get install chromium)")
    stats = run_load(sessions=2, drawings=2, trainers=1, cap_s=240, arch="lenet5", extra_attempt=False,
                     baseline=0)
    story = "\n".join(stats.events)
    assert not stats.cut, f"the run hit its time cap:\n{story}"
    assert stats.planned == 4
    assert stats.predicted == stats.planned, f"{stats.failures}\n{story}"
    assert len(stats.latencies_s) == stats.planned and all(t > 0 for t in stats.latencies_s)
    assert stats.trainers_started == 1 and stats.trainers_finished == 1, story
    assert stats.rss_peak_training_mb > 0  # the server was sampled while the trainer ran
    assert not [line for line in stats.log_errors if "Traceback" in line], stats.log_errors
    assert not stats.log_errors, stats.log_errors
