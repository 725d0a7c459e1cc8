"""Running tallies as plain state, changed only by ``apply_outcome``.

The state is a handful of mappings with JSON-able values, so the stream layer can hand in Faust
tables (or a per-batch cache in front of them) and store exactly what the rules computed. Keys:

| mapping | key | value |
|---|---|---|
| ``country`` | country (canonical: HK as CN) | TPP charged to the Tier 2 country cap |
| ``lpp`` | ``entity|year`` | TPP charged to an LPP allowance |
| ``veu`` | VEU id | ``{country: TPP}``: a universal VEU's installed base through chipscreen |
| ``nveu`` | ``veu|country`` | TPP charged to a national VEU's allowance |
| ``orders`` | order id | ``OrderRecord`` as a dict: version, holdings, the last decision |
| ``cap_marks`` | country | cap-use thresholds already announced (COUNTRY_CAP_NEARING once each) |
| ``recent`` | consignee id | ``[[day, tpp, orders, largest order tpp], ...]``: the split window |

Idempotence: an order event whose version is not newer than the order's recorded version changes
nothing (the outcome is marked duplicate and repeats the recorded decision).
"""

from __future__ import annotations

import dataclasses
from collections.abc import MutableMapping
from enum import StrEnum
from typing import Any


class TallyKind(StrEnum):
    COUNTRY = "country"
    LPP = "lpp"
    UVEU = "uveu"
    NVEU = "nveu"


@dataclasses.dataclass(frozen=True, slots=True)
class Holding:
    """TPP an order holds in one tally; released when the order is amended or cancelled."""

    kind: TallyKind
    key: str
    tpp: int
    country: str = ""  # for UVEU holdings: where the compute is installed

    def to_json(self) -> list[Any]:
        return [self.kind.value, self.key, self.tpp, self.country]

    @classmethod
    def from_json(cls, data: list[Any]) -> Holding:
        return cls(TallyKind(data[0]), str(data[1]), int(data[2]), str(data[3]))


@dataclasses.dataclass(frozen=True, slots=True)
class OrderRecord:
    order_id: str
    version: int
    holdings: tuple[Holding, ...]
    decision: dict[str, Any]  # the last Decision, JSON mode
    consignee_id: str
    destination_country: str

    def to_json(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "version": self.version,
            "holdings": [h.to_json() for h in self.holdings],
            "decision": self.decision,
            "consignee_id": self.consignee_id,
            "destination_country": self.destination_country,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OrderRecord:
        return cls(
            order_id=data["order_id"],
            version=int(data["version"]),
            holdings=tuple(Holding.from_json(h) for h in data["holdings"]),
            decision=data["decision"],
            consignee_id=data["consignee_id"],
            destination_country=data["destination_country"],
        )


@dataclasses.dataclass
class TallyState:
    """The mappings the rules read and ``apply_outcome`` writes; plain dicts by default."""

    country: MutableMapping[str, int] = dataclasses.field(default_factory=dict)
    lpp: MutableMapping[str, int] = dataclasses.field(default_factory=dict)
    veu: MutableMapping[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    nveu: MutableMapping[str, int] = dataclasses.field(default_factory=dict)
    orders: MutableMapping[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    cap_marks: MutableMapping[str, list[float]] = dataclasses.field(default_factory=dict)
    recent: MutableMapping[str, list[list[Any]]] = dataclasses.field(default_factory=dict)

    def used(self, kind: TallyKind, key: str) -> int:
        if kind is TallyKind.COUNTRY:
            return int(self.country.get(key, 0))
        if kind is TallyKind.LPP:
            return int(self.lpp.get(key, 0))
        if kind is TallyKind.NVEU:
            return int(self.nveu.get(key, 0))
        return sum(self.veu.get(key, {}).values())

    def order(self, order_id: str) -> OrderRecord | None:
        data = self.orders.get(order_id)
        return OrderRecord.from_json(data) if data is not None else None


def lpp_key(entity_id: str, year: int) -> str:
    return f"{entity_id}|{year}"


def nveu_key(veu_id: str, country: str) -> str:
    return f"{veu_id}|{country}"


@dataclasses.dataclass(frozen=True)
class Writes:
    """Everything an outcome changes, as exact deltas and whole-record writes."""

    deltas: tuple[Holding, ...] = ()  # signed TPP per tally key
    order: OrderRecord | None = None
    cap_marks: tuple[str, tuple[float, ...]] | None = None
    recent: tuple[str, tuple[tuple[str, int, int, int], ...]] | None = None


def diff_holdings(old: tuple[Holding, ...], new: tuple[Holding, ...]) -> tuple[Holding, ...]:
    """Signed deltas that turn ``old`` holdings into ``new`` ones, one per tally key."""
    net: dict[tuple[TallyKind, str, str], int] = {}
    for h in old:
        net[(h.kind, h.key, h.country)] = net.get((h.kind, h.key, h.country), 0) - h.tpp
    for h in new:
        net[(h.kind, h.key, h.country)] = net.get((h.kind, h.key, h.country), 0) + h.tpp
    return tuple(Holding(k, key, tpp, c) for (k, key, c), tpp in net.items() if tpp != 0)


def apply_writes(state: TallyState, writes: Writes) -> None:
    """The only state transition: apply an outcome's deltas and records."""
    for d in writes.deltas:
        if d.kind is TallyKind.COUNTRY:
            state.country[d.key] = _non_negative(state.country.get(d.key, 0) + d.tpp, d)
        elif d.kind is TallyKind.LPP:
            state.lpp[d.key] = _non_negative(state.lpp.get(d.key, 0) + d.tpp, d)
        elif d.kind is TallyKind.NVEU:
            state.nveu[d.key] = _non_negative(state.nveu.get(d.key, 0) + d.tpp, d)
        else:
            base = dict(state.veu.get(d.key, {}))
            base[d.country] = _non_negative(base.get(d.country, 0) + d.tpp, d)
            if base[d.country] == 0:
                del base[d.country]
            state.veu[d.key] = base
    if writes.order is not None:
        state.orders[writes.order.order_id] = writes.order.to_json()
    if writes.cap_marks is not None:
        country, marks = writes.cap_marks
        state.cap_marks[country] = list(marks)
    if writes.recent is not None:
        consignee, entries = writes.recent
        state.recent[consignee] = [list(e) for e in entries]


def _non_negative(value: int, delta: Holding) -> int:
    if value < 0:
        # Releasing more than was held means the state and the order records disagree.
        raise AssertionError(f"tally {delta.kind.value}:{delta.key} would go negative ({value})")
    return value
