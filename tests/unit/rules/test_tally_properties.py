"""Properties of the tally state machine over arbitrary create/amend/cancel sequences."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rules.policy import PolicyView
from rules.screening import ScreeningRejected, screen_order
from rules.tallies import TallyKind, TallyState, apply_writes
from tests.unit.rules.builders import H100_TPP, T0, change, order, view

SMALL_CAP = 60 * H100_TPP  # small enough that random sequences reach it
ORDER_IDS = ["O1", "O2", "O3", "O4", "O5"]

ops = st.lists(
    st.tuples(
        st.sampled_from(["created", "amended", "cancelled"]),
        st.sampled_from(ORDER_IDS),
        st.integers(min_value=1, max_value=1200),
        st.sampled_from(["IN", "AE"]),
        st.sampled_from(["C1", "C2"]),
        st.sampled_from([None, "LIC"]),
        st.sampled_from([None, "N1"]),
    ),
    max_size=40,
)


def small_cap_view() -> PolicyView:
    return view(
        "ai-diffusion-2025",
        change("IN", 2, dt.datetime(2025, 1, 13, tzinfo=dt.UTC), cap_tpp=SMALL_CAP),
        change("AE", 2, dt.datetime(2025, 1, 13, tzinfo=dt.UTC), cap_tpp=SMALL_CAP),
    )


def replay(sequence: list[tuple[Any, ...]]) -> tuple[TallyState, list[str]]:
    v = small_cap_view()
    state = TallyState()
    decisions = []
    for version, (kind, oid, qty, dest, cons, lic, veu) in enumerate(sequence):
        event = order(
            oid, dest=dest, qty=qty, event_type=kind, license_id=lic,
            veu={"id": veu, "kind": "national"} if veu else None,
            consignee={"id": cons}, at=T0 + dt.timedelta(hours=version),
            lines=[] if kind == "cancelled" else None,
        )  # fmt: skip
        try:
            outcome = screen_order(event, v, state, version=version, screened_at=T0)
        except ScreeningRejected:
            decisions.append("rejected")
            continue
        apply_writes(state, outcome.writes)  # raises if a tally would go negative
        decisions.append(outcome.decision.model_dump_json(exclude={"screened_at"}))
    return state, decisions


def holdings_total(state: TallyState, kind: TallyKind, key: str) -> int:
    return sum(
        h[2] for rec in state.orders.values() for h in rec["holdings"]
        if h[0] == kind.value and h[1] == key
    )  # fmt: skip


@given(ops)
@settings(max_examples=300, deadline=None)
def test_no_tally_exceeds_its_limit_or_goes_negative(sequence: list[tuple[Any, ...]]) -> None:
    state, _ = replay(sequence)
    lpp_limit = 26_900_000
    assert all(0 <= used <= SMALL_CAP for used in state.country.values())
    assert all(0 <= used <= lpp_limit for used in state.lpp.values())
    assert all(used >= 0 for used in state.nveu.values())
    # every tally is exactly what the live orders hold
    for key, used in state.country.items():
        assert used == holdings_total(state, TallyKind.COUNTRY, key)
    for key, used in state.lpp.items():
        assert used == holdings_total(state, TallyKind.LPP, key)
    for key, used in state.nveu.items():
        assert used == holdings_total(state, TallyKind.NVEU, key)


@given(ops)
@settings(max_examples=100, deadline=None)
def test_same_input_same_output(sequence: list[tuple[Any, ...]]) -> None:
    first_state, first = replay(sequence)
    second_state, second = replay(sequence)
    assert first == second
    assert first_state == second_state


@given(ops)
@settings(max_examples=200, deadline=None)
def test_cancelling_everything_returns_every_tally_to_zero(
    sequence: list[tuple[Any, ...]],
) -> None:
    created = {oid for kind, oid, *_ in sequence if kind == "created"}
    cancels = [("cancelled", oid, 1, "IN", "C1", None, None) for oid in sorted(created)]
    state, _ = replay(sequence + cancels)
    assert set(state.country.values()) <= {0}
    assert set(state.lpp.values()) <= {0}
    assert set(state.nveu.values()) <= {0}
    assert all(rec["holdings"] == [] for rec in state.orders.values())
