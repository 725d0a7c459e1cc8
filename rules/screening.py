"""Order screening: (order event, policy view, tallies) -> decision, tally writes, alerts.

``screen_order`` reads the state and returns an ``OrderOutcome``; it changes nothing.
``apply_writes(state, outcome.writes)`` is the state transition. Reason codes are appended in a
fixed order of precedence (party, destination, headquarters, PRC chips, classification, then the
path: AIA, VEU, license and cap, LPP), so equal inputs give equal decisions.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from rules.alerts import build_alert, signal
from rules.catalog import Catalog, ClassifiedLine, classify_line, load_catalog
from rules.parties import PartyIndex, PartyMatch
from rules.policy import Pack, PolicyView
from rules.tallies import (
    Holding,
    OrderRecord,
    TallyKind,
    TallyState,
    Writes,
    diff_holdings,
    lpp_key,
    nveu_key,
)
from schemas.codes import (
    AlertSubject,
    ConsigneeKind,
    DecisionKind,
    EventType,
    ReasonCode,
    SignalCode,
    VeuKind,
)
from schemas.models import Alert, Decision, OrderEvent, Reason, ShipmentLine, Signal, Tallies


class ScreeningRejected(ValueError):
    """An order event that decodes but cannot be screened (it goes to dead-letter)."""


@dataclasses.dataclass(frozen=True)
class OrderOutcome:
    decision: Decision
    writes: Writes
    alerts: tuple[Alert, ...] = ()
    duplicate: bool = False  # a replay: nothing changes, the recorded decision is repeated


@dataclasses.dataclass
class _Draft:
    """What a screening collects before it becomes a Decision."""

    pack: Pack
    holds: list[Reason] = dataclasses.field(default_factory=list)
    approvals: list[Reason] = dataclasses.field(default_factory=list)
    holdings: list[Holding] = dataclasses.field(default_factory=list)
    tallies: dict[str, int | None] = dataclasses.field(default_factory=dict)
    signals: list[Signal] = dataclasses.field(default_factory=list)

    def hold(self, code: ReasonCode, detail: str, **figures: int | float) -> None:
        self.holds.append(Reason(code=code, detail=detail, figures=figures))

    def approve(self, code: ReasonCode, detail: str, **figures: int | float) -> None:
        self.approvals.append(Reason(code=code, detail=detail, figures=figures))

    def flag(self, code: SignalCode, detail: str) -> None:
        self.signals.append(signal(code, detail, self.pack))


def _fmt(tpp: int | None) -> str:
    return "none" if tpp is None else f"{tpp:,}"


def decision_id(order_id: str, version: int) -> str:
    return f"{order_id}@{version}"


def screen_order(
    event: OrderEvent,
    view: PolicyView,
    state: TallyState,
    *,
    version: int,
    screened_at: dt.datetime,
    parties: PartyIndex | None = None,
    catalog: Catalog | None = None,
) -> OrderOutcome:
    """Screen one order event. ``version`` orders the events of one order (the event's
    ``event_version`` or, without it, the source offset); equal or older versions are replays."""
    catalog = catalog or load_catalog()
    previous = state.order(event.order_id)
    if previous is not None and version <= previous.version:
        return OrderOutcome(Decision.model_validate(previous.decision), Writes(), duplicate=True)
    if previous is None and event.event_type is not EventType.CREATED:
        raise ScreeningRejected(
            f"{event.event_type.value} event for unknown order {event.order_id!r}"
        )
    if previous is not None and event.event_type is EventType.CREATED:
        raise ScreeningRejected(
            f"order id {event.order_id!r} is already in use (version {previous.version}); "
            "changes to an order must be 'amended' events"
        )

    old_holdings = previous.holdings if previous else ()
    pack = view.pack
    at = event.occurred_at
    destination = view.canonical_country(event.destination_country)
    tier = view.tier(destination, at)
    lines = [classify_line(line, catalog, pack.classification) for line in event.lines]
    order_tpp = sum(line.tpp for line in lines)
    draft = _Draft(pack)

    if event.event_type is EventType.CANCELLED:
        draft.hold(
            ReasonCode.ORDER_CANCELLED,
            f"order cancelled; released {_fmt(sum(h.tpp for h in old_holdings))} TPP",
            released_tpp=sum(h.tpp for h in old_holdings),
        )
        order_tpp = 0
    else:
        released = _ReleasedView(state, old_holdings)
        _screen_parties(event, parties, draft)
        _screen_destination_and_headquarters(event, view, lines, draft)
        _screen_lines(lines, view, draft)
        if not draft.holds:
            _choose_path(event, view, lines, order_tpp, released, draft)

    decided_holds = bool(draft.holds)
    new_holdings = () if decided_holds else tuple(draft.holdings)
    decision = Decision(
        order_id=event.order_id,
        decision=DecisionKind.HELD if decided_holds else DecisionKind.APPROVED,
        reasons=draft.holds if decided_holds else draft.approvals,
        destination_country=event.destination_country,
        tier=tier,
        order_tpp=order_tpp,
        tallies=Tallies(**draft.tallies),
        policy_version=view.version,
        screened_at=screened_at,
        decision_id=decision_id(event.order_id, version),
        event_type=event.event_type,
        occurred_at=event.occurred_at,
        consignee_id=event.consignee.id,
        lines=[ShipmentLine(part_number=ln.part_number, quantity=ln.quantity) for ln in lines],
    )
    record = OrderRecord(
        order_id=event.order_id,
        version=version,
        holdings=new_holdings,
        decision=decision.model_dump(mode="json"),
        consignee_id=event.consignee.id,
        destination_country=destination,
    )
    deltas = diff_holdings(old_holdings, new_holdings)
    cap_marks = _cap_nearing(view, state, deltas, at, draft)
    recent = _split_orders(event, view, state, order_tpp, draft)
    if event.consignee.kind is ConsigneeKind.FREIGHT_FORWARDER:
        draft.flag(
            SignalCode.FORWARDER_CONSIGNEE,
            f"freight forwarder '{event.consignee.name}' named as consignee",
        )
    alerts: tuple[Alert, ...] = ()
    if draft.signals:
        alerts = (
            build_alert(
                subject=AlertSubject.ORDER,
                subject_id=event.order_id,
                order_id=event.order_id,
                signals=draft.signals,
                pack=pack,
                policy_version=view.version,
                raised_at=screened_at,
                version_key=str(version),
            ),
        )
    return OrderOutcome(
        decision=decision,
        writes=Writes(deltas=deltas, order=record, cap_marks=cap_marks, recent=recent),
        alerts=alerts,
    )


class _ReleasedView:
    """Tallies as they would be without this order's current holdings (for amendments)."""

    def __init__(self, state: TallyState, held: tuple[Holding, ...]) -> None:
        self.state = state
        self.held = held

    def used(self, kind: TallyKind, key: str) -> int:
        mine = sum(h.tpp for h in self.held if h.kind is kind and h.key == key)
        return self.state.used(kind, key) - mine

    def veu_base(self, veu_id: str) -> dict[str, int]:
        base = dict(self.state.veu.get(veu_id, {}))
        for h in self.held:
            if h.kind is TallyKind.UVEU and h.key == veu_id:
                base[h.country] = base.get(h.country, 0) - h.tpp
        return {c: v for c, v in base.items() if v > 0}


# -- hard holds --------------------------------------------------------------------------------


def _screen_parties(event: OrderEvent, parties: PartyIndex | None, draft: _Draft) -> None:
    if parties is None:
        return
    named = [("consignee", event.consignee.name, event.consignee.country)]
    for role, name, country in named:
        matches: list[PartyMatch] = parties.screen(name, country)
        if matches:
            best = matches[0]
            draft.hold(
                ReasonCode.RESTRICTED_PARTY_MATCH,
                f"{role} '{name}' matches {best.explain()}",
                score=best.score,
            )
            draft.signals.append(
                signal(SignalCode.RESTRICTED_PARTY_MATCH, best.explain(), draft.pack)
            )


def _screen_destination_and_headquarters(
    event: OrderEvent, view: PolicyView, lines: list[ClassifiedLine], draft: _Draft
) -> None:
    at = event.occurred_at
    controlled = any(line.controlled for line in lines)
    if not controlled:
        return
    if view.tier(event.destination_country, at) == 3:
        draft.hold(
            ReasonCode.TIER3_DESTINATION,
            f"destination {event.destination_country} is Tier 3 (D:5/Macau, Hong Kong as China):"
            " license with presumption of denial"
            + ("; the license id must be verified by hand" if event.license_id else ""),
        )
    restricted = [
        (who, cc)
        for who, cc in (
            ("consignee headquarters", event.consignee.hq_country),
            ("consignee's ultimate parent", event.consignee.parent_hq_country),
        )
        if view.is_restricted_headquarters(cc, at)
    ]
    if restricted:
        draft.hold(
            ReasonCode.HEADQUARTERS_RESTRICTED,
            "headquarters rule: " + ", ".join(f"{who} in {cc}" for who, cc in restricted),
        )


def _screen_lines(lines: list[ClassifiedLine], view: PolicyView, draft: _Draft) -> None:
    prc = [line for line in lines if line.prc_made and line.controlled]
    if prc:
        detail = "PRC-made advanced ICs: " + ", ".join(
            f"{ln.quantity} x {ln.part_number}" for ln in prc
        )
        draft.flag(SignalCode.PRC_ADVANCED_IC, detail)
        if view.pack.pack.prc_advanced_ic_hold:
            draft.hold(
                ReasonCode.PRC_ADVANCED_IC, detail + " (presumed made in violation of the EAR)"
            )
    for line in lines:
        if not line.classified:
            draft.hold(ReasonCode.UNCLASSIFIED_ITEM, f"{line.part_number}: {line.why}")


# -- approval paths ----------------------------------------------------------------------------


def _choose_path(
    event: OrderEvent,
    view: PolicyView,
    lines: list[ClassifiedLine],
    order_tpp: int,
    tallies: _ReleasedView,
    draft: _Draft,
) -> None:
    at = event.occurred_at
    if not any(line.controlled for line in lines):
        draft.approve(ReasonCode.NOT_CONTROLLED, "no line is a controlled 3A090.a/4A090.a item")
        return
    if not view.pack.pack.framework:
        draft.approve(
            ReasonCode.NO_LICENSE_REQUIRED,
            f"{view.pack.name}: no restriction outside D:5/Macau for these parties",
            order_tpp=order_tpp,
        )
        return
    if event.veu is not None:
        if event.veu.kind is VeuKind.UNIVERSAL:
            _uveu(event, view, order_tpp, tallies, draft)
        else:
            _nveu(event, view, order_tpp, tallies, draft)
        return
    tier = view.tier(event.destination_country, at)
    if tier == 1:
        _tier1(event, view, order_tpp, draft)
    elif event.license_id:
        _licensed(event, view, order_tpp, tallies, draft)
    else:
        _lpp(event, view, order_tpp, tallies, draft)


def _tier1(event: OrderEvent, view: PolicyView, order_tpp: int, draft: _Draft) -> None:
    at = event.occurred_at
    outside = [
        (who, cc)
        for who, cc in (
            ("consignee headquarters", event.consignee.hq_country),
            ("ultimate parent", event.consignee.parent_hq_country),
        )
        if view.tier(cc, at) != 1
    ]
    if view.pack.pack.aia_headquarters_rule and outside:
        where = ", ".join(f"{who} in {cc} (Tier {view.tier(cc, at)})" for who, cc in outside)
        if event.license_id:
            draft.approve(
                ReasonCode.LICENSED_WITHIN_CAP,
                f"AIA unavailable ({where}); license {event.license_id}; "
                "Tier 1 destinations have no country cap",
                order_tpp=order_tpp,
            )
        else:
            draft.hold(
                ReasonCode.AIA_HEADQUARTERS_INELIGIBLE,
                f"License Exception AIA needs Tier 1 headquarters: {where}",
                order_tpp=order_tpp,
            )
        return
    draft.approve(
        ReasonCode.TIER1_AIA,
        f"License Exception AIA: {event.destination_country} and the consignee's headquarters "
        "are Tier 1",
        order_tpp=order_tpp,
    )


def _licensed(
    event: OrderEvent, view: PolicyView, order_tpp: int, tallies: _ReleasedView, draft: _Draft
) -> None:
    country = view.canonical_country(event.destination_country)
    cap = view.country_cap(country, event.occurred_at)
    used = tallies.used(TallyKind.COUNTRY, country)
    draft.tallies.update(country_used_tpp=used, country_cap_tpp=cap)
    if cap is None:
        draft.approve(
            ReasonCode.LICENSED_WITHIN_CAP,
            f"license {event.license_id}; no country cap in force for {country} on this date",
            order_tpp=order_tpp,
        )
        return
    after = used + order_tpp
    if after > cap:
        draft.hold(
            ReasonCode.COUNTRY_CAP_EXCEEDED,
            f"{country} cap: {_fmt(used)} used + {_fmt(order_tpp)} ordered = {_fmt(after)} "
            f"> {_fmt(cap)} TPP (presumption of denial beyond the cap)",
            used_tpp=used, order_tpp=order_tpp, cap_tpp=cap,
        )  # fmt: skip
        return
    draft.holdings.append(Holding(TallyKind.COUNTRY, country, order_tpp))
    draft.tallies["country_used_tpp"] = after
    draft.approve(
        ReasonCode.LICENSED_WITHIN_CAP,
        f"license {event.license_id}; {country} cap {_fmt(after)} of {_fmt(cap)} TPP after "
        "this order",
        used_tpp=after, order_tpp=order_tpp, cap_tpp=cap,
    )  # fmt: skip


def lpp_entity(event: OrderEvent, view: PolicyView) -> str:
    """Whose LPP allowance an order draws on: the consignee's, or, for a Tier-1-headquartered
    consignee that names one, the operator's (``consignee.operator_id``)."""
    lpp = view.pack.lpp
    consignee = event.consignee
    if (
        lpp is not None
        and lpp.operator_charging
        and consignee.operator_id
        and view.tier(consignee.hq_country, event.occurred_at) == 1
    ):
        return consignee.operator_id
    return consignee.id


def _lpp(
    event: OrderEvent, view: PolicyView, order_tpp: int, tallies: _ReleasedView, draft: _Draft
) -> None:
    lpp = view.pack.lpp
    assert lpp is not None  # a framework pack always has one (validated on load)
    entity = lpp_entity(event, view)
    year = event.occurred_at.astimezone(dt.UTC).year
    key = lpp_key(entity, year)
    used = tallies.used(TallyKind.LPP, key)
    limit = lpp.limit_tpp
    draft.tallies.update(lpp_used_tpp=used, lpp_limit_tpp=limit)
    cap = view.country_cap(event.destination_country, event.occurred_at)
    if cap is not None:
        country = view.canonical_country(event.destination_country)
        draft.tallies.update(
            country_used_tpp=tallies.used(TallyKind.COUNTRY, country), country_cap_tpp=cap
        )
    charged = "" if entity == event.consignee.id else f" (charged to operator {entity})"
    if order_tpp > limit:
        draft.hold(
            ReasonCode.LICENSE_REQUIRED,
            f"{_fmt(order_tpp)} TPP is more than LPP can ever cover ({_fmt(limit)} per consignee "
            "per year); a license is required",
            order_tpp=order_tpp, lpp_limit_tpp=limit,
        )  # fmt: skip
        return
    after = used + order_tpp
    if after > limit:
        draft.hold(
            ReasonCode.LPP_EXCEEDED,
            f"LPP {year}{charged}: {_fmt(used)} used + {_fmt(order_tpp)} ordered = {_fmt(after)} "
            f"> {_fmt(limit)} TPP, and no license",
            lpp_used_tpp=used, order_tpp=order_tpp, lpp_limit_tpp=limit,
        )  # fmt: skip
        return
    draft.holdings.append(Holding(TallyKind.LPP, key, order_tpp))
    draft.tallies["lpp_used_tpp"] = after
    draft.approve(
        ReasonCode.LPP,
        f"License Exception LPP {year}{charged}: {_fmt(after)} of {_fmt(limit)} TPP after "
        "this order",
        lpp_used_tpp=after, order_tpp=order_tpp, lpp_limit_tpp=limit,
    )  # fmt: skip


def _uveu(
    event: OrderEvent, view: PolicyView, order_tpp: int, tallies: _ReleasedView, draft: _Draft
) -> None:
    rules = view.pack.uveu
    assert rules is not None and event.veu is not None
    at = event.occurred_at
    veu_id = event.veu.id
    destination = view.canonical_country(event.destination_country)
    base = tallies.veu_base(veu_id)
    base[destination] = base.get(destination, 0) + order_tpp
    total = sum(base.values())
    tier1 = sum(v for c, v in base.items() if view.tier(c, at) == 1)
    draft.tallies.update(veu_used_tpp=total)
    problems = []
    if view.tier(event.consignee.hq_country, at) != 1:
        problems.append(f"a universal VEU must be headquartered in Tier 1, not "
                        f"{event.consignee.hq_country}")  # fmt: skip
    share_t1 = tier1 / total if total else 1.0
    if share_t1 < rules.min_tier1_share:
        problems.append(f"Tier 1 share {share_t1:.1%} < {rules.min_tier1_share:.0%}")
    if view.tier(destination, at) != 1:
        share_here = base[destination] / total
        if share_here > rules.max_single_country_share:
            problems.append(
                f"{destination} share {share_here:.1%} > {rules.max_single_country_share:.0%}"
            )
    if event.consignee.hq_country == "US":
        share_us = base.get("US", 0) / total if total else 1.0
        if share_us < rules.min_us_share_if_us_headquartered:
            problems.append(
                f"US share {share_us:.1%} < {rules.min_us_share_if_us_headquartered:.0%}"
            )
    figures: dict[str, int | float] = {
        "order_tpp": order_tpp, "installed_tpp": total, "tier1_share": round(share_t1, 4),
    }  # fmt: skip
    if problems:
        draft.hold(
            ReasonCode.UVEU_ALLOCATION_EXCEEDED,
            f"UVEU {veu_id} after this order: " + "; ".join(problems),
            **figures,
        )
        return
    draft.holdings.append(Holding(TallyKind.UVEU, veu_id, order_tpp, destination))
    draft.approve(
        ReasonCode.UVEU_WITHIN_ALLOCATION,
        f"UVEU {veu_id}: {_fmt(total)} TPP installed after this order, {share_t1:.1%} in Tier 1",
        **figures,
    )


def _nveu(
    event: OrderEvent, view: PolicyView, order_tpp: int, tallies: _ReleasedView, draft: _Draft
) -> None:
    assert event.veu is not None
    veu_id = event.veu.id
    country = view.canonical_country(event.destination_country)
    key = nveu_key(veu_id, country)
    limit = view.nveu_limit_tpp(event.occurred_at)
    used = tallies.used(TallyKind.NVEU, key)
    after = used + order_tpp
    draft.tallies.update(veu_used_tpp=used, veu_limit_tpp=limit)
    if limit is not None and after > limit:
        draft.hold(
            ReasonCode.NVEU_ALLOCATION_EXCEEDED,
            f"NVEU {veu_id} in {country}: {_fmt(used)} + {_fmt(order_tpp)} = {_fmt(after)} "
            f"> {_fmt(limit)} TPP allowed by {event.occurred_at.date()}",
            veu_used_tpp=used, order_tpp=order_tpp, veu_limit_tpp=limit,
        )  # fmt: skip
        return
    draft.holdings.append(Holding(TallyKind.NVEU, key, order_tpp))
    draft.tallies["veu_used_tpp"] = after
    draft.approve(
        ReasonCode.NVEU_WITHIN_ALLOCATION,
        f"NVEU {veu_id} in {country}: {_fmt(after)} of {_fmt(limit)} TPP after this order",
        veu_used_tpp=after, order_tpp=order_tpp, veu_limit_tpp=limit or 0,
    )  # fmt: skip


# -- order-side red flags ----------------------------------------------------------------------


def _cap_nearing(
    view: PolicyView,
    state: TallyState,
    deltas: tuple[Holding, ...],
    at: dt.datetime,
    draft: _Draft,
) -> tuple[str, tuple[float, ...]] | None:
    cap_rules = view.pack.country_cap
    charged = [d for d in deltas if d.kind is TallyKind.COUNTRY and d.tpp > 0]
    if cap_rules is None or not charged:
        return None
    country = charged[0].key
    cap = view.country_cap(country, at)
    if not cap:
        return None
    after = state.used(TallyKind.COUNTRY, country) + charged[0].tpp
    marks = tuple(state.cap_marks.get(country, ()))
    crossed = [t for t in cap_rules.nearing_thresholds if after >= t * cap and t not in marks]
    if not crossed:
        return None
    top = max(crossed)
    draft.flag(
        SignalCode.COUNTRY_CAP_NEARING,
        f"{country} has used {after / cap:.1%} of its cap ({_fmt(after)} of {_fmt(cap)} TPP), "
        f"crossing {top:.0%}",
    )
    return country, tuple(sorted({*marks, *crossed}))


def _split_orders(
    event: OrderEvent,
    view: PolicyView,
    state: TallyState,
    order_tpp: int,
    draft: _Draft,
) -> tuple[str, tuple[tuple[str, int, int, int], ...]] | None:
    """SPLIT_ORDERS: orders of one consignee inside the window, each under the LPP limit and
    together over it. Raised once, on the order that takes the window's sum over the limit.

    The window is counted in whole UTC days (the order's day and the days before it) and kept
    as one ``[day, tpp, orders, largest order tpp]`` entry per day: at most a window's worth of
    entries however busy the consignee. A list of every order made a consignee with thousands of
    orders in the window cost O(orders) per order (bench: 383 orders/s with 10 consignees)."""
    lpp = view.pack.lpp
    if lpp is None or order_tpp <= 0 or event.event_type is not EventType.CREATED:
        return None
    days = view.pack.red_flags.split_orders_window_days
    today = event.occurred_at.astimezone(dt.UTC).date()
    first_day = (today - dt.timedelta(days=days - 1)).isoformat()
    consignee = event.consignee.id
    kept = {
        str(day): [int(tpp), int(count), int(largest)]
        for day, tpp, count, largest in state.recent.get(consignee, [])
        if str(day) >= first_day  # ISO dates order as strings
    }
    before = sum(tpp for tpp, _, _ in kept.values())
    orders = sum(count for _, count, _ in kept.values()) + 1
    largest = max([order_tpp, *(big for _, _, big in kept.values())])
    limit = lpp.limit_tpp
    if orders >= 2 and largest < limit and before <= limit < before + order_tpp:
        draft.flag(
            SignalCode.SPLIT_ORDERS,
            f"{orders} orders from consignee {consignee} within {days} days, each "
            f"under the LPP limit, together {_fmt(before + order_tpp)} > {_fmt(limit)} TPP",
        )
    day = today.isoformat()
    tpp, count, big = kept.get(day, [0, 0, 0])
    kept[day] = [tpp + order_tpp, count + 1, max(big, order_tpp)]
    return consignee, tuple((d, kept[d][0], kept[d][1], kept[d][2]) for d in sorted(kept))


def explain(outcome: OrderOutcome) -> dict[str, Any]:
    """A compact, printable summary of an outcome (for the CLI and the replay diff)."""
    d = outcome.decision
    return {
        "order_id": d.order_id,
        "decision": d.decision.value,
        "codes": [r.code.value for r in d.reasons],
        "order_tpp": d.order_tpp,
        "policy_version": d.policy_version,
    }
