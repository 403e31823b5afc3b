"""The Hypothesis profile HYPOTHESIS_PROFILE names sets every test's count."""

from __future__ import annotations

import os
import subprocess
import sys

from hypothesis import settings

from tests.examples import SUITE

COUNT = "import tests.conftest, tests.examples as e; print(e.examples(3))"


def test_the_thorough_profile_draws_ten_times_the_suites_examples() -> None:
    env = {**os.environ, "HYPOTHESIS_PROFILE": "thorough"}

    done = subprocess.run(
        [sys.executable, "-c", COUNT], env=env, capture_output=True, text=True
    )

    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == 10 * 3 * settings.get_profile(SUITE).max_examples
