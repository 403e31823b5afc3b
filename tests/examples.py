"""How many examples a property test draws, by the Hypothesis profile.

tests/conftest.py loads the profile HYPOTHESIS_PROFILE names: `suite`,
the default that `make test` runs, or `thorough`, ten times as many.
"""

from __future__ import annotations

from hypothesis import settings

SUITE = "suite"
THOROUGH = "thorough"

settings.register_profile(SUITE, max_examples=10)
settings.register_profile(THOROUGH, max_examples=100)


def examples(times: int = 1) -> int:
    """`times` the examples of the loaded profile: a test scales its count
    by how little one example costs."""
    return times * settings.default.max_examples
