"""The monotone fold, for any facts: order and repetition change nothing.

services.metrics.statuses folds what is known about one recipient's
message into its state; the counters follow the state through the
deltas of each step. Hypothesis tries many more facts than the service
tests can afford.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial, reduce

from hypothesis import given, settings
from hypothesis import strategies as st

from services.metrics.statuses import (
    Failure,
    RecipientState,
    apply_opt_out,
    apply_reply,
    apply_send,
    apply_status,
    counter_deltas,
)
from tests.examples import examples

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
STATUSES = ("sent", "delivered", "read", "played", "failed", "deleted")
FAILURE_CODES = (131026, 131049, 131050, 131000, 999)

Step = Callable[[RecipientState], RecipientState]

# A few seconds only, so that facts share timestamps often.
times = st.integers(0, 4).map(lambda seconds: T0 + timedelta(seconds=seconds))
# Meta's title goes with the code: one failure per code.
failures = st.sampled_from(FAILURE_CODES).map(
    lambda code: Failure(code, f"Meta's title for {code}", "some_category")
)
steps: st.SearchStrategy[Step] = st.one_of(
    # One wamid: the service refuses a second one for a recipient.
    st.builds(partial, st.just(apply_send), at=times, wamid=st.just("wamid.A")),
    st.builds(
        partial, st.just(apply_send), at=times, wamid=st.none(), rejection=failures
    ),
    st.builds(
        partial,
        st.just(apply_status),
        meta_status=st.sampled_from(STATUSES),
        at=times,
        failure=st.none() | failures,
    ),
    st.builds(partial, st.just(apply_reply), at=times),
    st.builds(partial, st.just(apply_opt_out), at=times),
)


@st.composite
def reshuffled(draw: st.DrawFn) -> tuple[list[Step], list[Step]]:
    """Facts, and the same facts shuffled with some of them repeated."""
    facts = draw(st.lists(steps, max_size=10))
    repeats = draw(st.lists(st.sampled_from(facts), max_size=5)) if facts else []
    return facts, draw(st.permutations(facts + repeats))


def fold(facts: Sequence[Step]) -> RecipientState:
    return reduce(lambda state, step: step(state), facts, RecipientState())


@settings(max_examples=examples(20), deadline=None, database=None)
@given(scenario=reshuffled())
def test_the_fold_ignores_order_and_repetition(
    scenario: tuple[list[Step], list[Step]],
) -> None:
    facts, again = scenario

    assert fold(again) == fold(facts)


@settings(max_examples=examples(10), deadline=None, database=None)
@given(facts=st.lists(steps, max_size=10))
def test_the_fold_never_lowers_a_status(facts: list[Step]) -> None:
    ranks = [fold(facts[:n]).status for n in range(len(facts) + 1)]

    assert ranks == sorted(ranks)


@settings(max_examples=examples(10), deadline=None, database=None)
@given(facts=st.lists(steps, max_size=10))
def test_the_deltas_along_the_fold_add_up_to_the_final_state(
    facts: list[Step],
) -> None:
    total: Counter[str] = Counter(counter_deltas(None, RecipientState()))
    state = RecipientState()
    for step in facts:
        new = step(state)
        total.update(counter_deltas(state, new))
        state = new

    moved = {field: by for field, by in total.items() if by}
    assert moved == counter_deltas(None, state)
