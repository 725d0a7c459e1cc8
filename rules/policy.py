"""Policy packs: every figure the rules use, loaded from ``rules/packs/*.toml`` and validated.

A ``PolicyView`` is a pack plus the PolicyChanges applied to it. Tier assignments and caps are
effective-dated: an event is judged by the assignment in force on its own ``occurred_at``, so a
late event keeps the tier it would have had. The view's ``version`` names the pack, its base date
and how many streamed changes it holds (``ai-diffusion-2025@2025-01-13+3``).
"""

from __future__ import annotations

import bisect
import datetime as dt
import tomllib
from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.codes import SignalCode
from schemas.models import COUNTRY_CODES, PolicyChange

Tier = Literal[1, 2, 3]


class PackError(ValueError):
    """A policy pack file that does not load or does not validate."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _countries(values: list[str]) -> list[str]:
    unknown = [c for c in values if c not in COUNTRY_CODES]
    if unknown:
        raise ValueError(f"unknown country codes: {', '.join(unknown)}")
    return values


class PackMeta(_Strict):
    name: str
    base_date: dt.date
    description: str
    framework: bool
    aia_headquarters_rule: bool
    prc_advanced_ic_hold: bool


class TierChange(_Strict):
    country: str
    tier: Tier
    effective_from: dt.datetime
    source: str
    unconfirmed: bool = False
    cap_tpp: int | None = None


class TierList(_Strict):
    countries: list[str]
    source: str
    unconfirmed_countries: list[str] = Field(default_factory=list)

    _check = field_validator("countries", "unconfirmed_countries")(_countries)


class Tiers(_Strict):
    default: Tier
    source: str
    tier1: TierList
    tier3: TierList
    aliases: dict[str, str] = Field(default_factory=dict)
    changes: list[TierChange] = Field(default_factory=list)

    @model_validator(mode="after")
    def _disjoint(self) -> Tiers:
        both = set(self.tier1.countries) & set(self.tier3.countries)
        if both:
            raise ValueError(f"countries in both Tier 1 and Tier 3: {sorted(both)}")
        return self


class CountryCap(_Strict):
    tpp: int = Field(gt=0)
    period_start: dt.datetime
    period_end: dt.datetime
    government_to_government_multiplier: int = Field(ge=1)
    government_to_government_countries: list[str]
    source: str
    unconfirmed: bool = False
    nearing_thresholds: list[float]


class Lpp(_Strict):
    limit_tpp: int = Field(gt=0)
    source: str
    operator_charging: bool


class Uveu(_Strict):
    min_tier1_share: float = Field(ge=0, le=1)
    max_single_country_share: float = Field(ge=0, le=1)
    min_us_share_if_us_headquartered: float = Field(ge=0, le=1)
    source: str


class NveuStep(_Strict):
    through: dt.datetime
    h100_equivalents: int = Field(gt=0)


class Nveu(_Strict):
    h100_tpp: int = Field(gt=0)
    source: str
    unconfirmed: bool = False
    schedule: list[NveuStep] = Field(min_length=1)


class Classification(_Strict):
    tpp_threshold: int
    density_tpp_floor: int
    density_threshold: float
    controlled_eccns: list[str]
    source: str


class Severity(_Strict):
    medium: float
    high: float
    critical: float
    always_critical: list[SignalCode]


class RedFlags(_Strict):
    transshipment_hubs: list[str]
    transit_as_tier3: list[str]
    residential_markers: list[str]
    commercial_quantity: int = Field(ge=1)
    split_orders_window_days: int = Field(ge=1)
    source: str
    weights: dict[SignalCode, float]
    severity: Severity

    _check = field_validator("transshipment_hubs", "transit_as_tier3")(_countries)

    @model_validator(mode="after")
    def _every_signal_weighted(self) -> RedFlags:
        missing = set(SignalCode) - set(self.weights)
        if missing:
            raise ValueError(f"no weight for signals: {sorted(m.value for m in missing)}")
        return self


class Parties(_Strict):
    match_threshold: float = Field(ge=0, le=100)
    foreign_country_threshold: float = Field(ge=0, le=100)
    source: str


class Pack(_Strict):
    pack: PackMeta
    tiers: Tiers
    country_cap: CountryCap | None = None
    lpp: Lpp | None = None
    uveu: Uveu | None = None
    nveu: Nveu | None = None
    classification: Classification
    red_flags: RedFlags
    parties: Parties

    @model_validator(mode="after")
    def _framework_has_its_figures(self) -> Pack:
        if self.pack.framework:
            absent = [
                name
                for name in ("country_cap", "lpp", "uveu", "nveu")
                if getattr(self, name) is None
            ]
            if absent:
                raise ValueError(f"a framework pack needs sections: {', '.join(absent)}")
        return self

    @property
    def name(self) -> str:
        return self.pack.name


def available_packs() -> list[str]:
    folder = resources.files("rules") / "packs"
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )


def parse_pack(text: str, origin: str = "<string>") -> Pack:
    try:
        data = tomllib.loads(text)
        return Pack.model_validate(data)
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        raise PackError(f"policy pack {origin}: {exc}") from exc


@cache
def load_pack(name: str) -> Pack:
    """A pack shipped in ``rules/packs`` by name."""
    if name not in available_packs():
        raise PackError(f"unknown policy pack {name!r}; available: {', '.join(available_packs())}")
    text = (resources.files("rules") / "packs" / f"{name}.toml").read_text()
    return parse_pack(text, f"{name}.toml")


class _Assignment(BaseModel):
    model_config = ConfigDict(frozen=True)
    effective_from: dt.datetime
    tier: Tier
    cap_tpp: int | None
    change_id: str
    note: str | None = None


class PolicyView:
    """A pack plus the PolicyChanges applied to it, answering questions at a point in time."""

    def __init__(self, pack: Pack, changes: Iterable[PolicyChange] = ()) -> None:
        self.pack = pack
        self._tier1 = frozenset(pack.tiers.tier1.countries)
        self._tier3 = frozenset(pack.tiers.tier3.countries)
        # per country: assignments sorted by effective_from (pack-dated changes, then streamed)
        self._timeline: dict[str, list[_Assignment]] = {}
        self._applied: dict[str, PolicyChange] = {}
        self._pins: dict[str, str] = {}
        for dated in pack.tiers.changes:
            self._insert(
                dated.country,
                _Assignment(
                    effective_from=dated.effective_from,
                    tier=dated.tier,
                    cap_tpp=dated.cap_tpp,
                    change_id=f"pack:{dated.country}@{dated.effective_from.date()}",
                    note=dated.source,
                ),
            )
        for change in changes:
            self.apply(change)

    # -- changes ---------------------------------------------------------------------------

    def apply(self, change: PolicyChange) -> bool:
        """Apply a streamed PolicyChange for this pack; False if it is for another pack or seen."""
        if change.pack != self.pack.name:
            return False
        previous = self._applied.get(change.change_id)
        if previous == change:
            return False  # the same record read again (a compacted topic replays)
        if previous is not None:
            self._remove(previous.country, change.change_id)
        if f"pin:{change.country}" in self._pins:
            self._applied[change.change_id] = change
            return True  # recorded, but a pinned country keeps its pinned tier
        self._applied[change.change_id] = change
        self._insert(
            change.country,
            _Assignment(
                effective_from=change.effective_from,
                tier=change.tier,
                cap_tpp=change.cap_tpp,
                change_id=change.change_id,
                note=change.note,
            ),
        )
        return True

    def pin(self, country: str, tier: Tier, note: str = "pinned") -> None:
        """Make ``country`` this tier at every date, whatever the pack or changes say (what-if
        replays). Counts as one applied change in ``version``."""
        change_id = f"pin:{country}"
        self._timeline[country] = [
            _Assignment(
                effective_from=dt.datetime.min.replace(tzinfo=dt.UTC),
                tier=tier,
                cap_tpp=None,
                change_id=change_id,
                note=note,
            )
        ]
        self._pins[change_id] = country

    def _insert(self, country: str, assignment: _Assignment) -> None:
        timeline = self._timeline.setdefault(country, [])
        keys = [(a.effective_from, a.change_id) for a in timeline]
        timeline.insert(bisect.bisect(keys, (assignment.effective_from, assignment.change_id)),
                        assignment)  # fmt: skip

    def _remove(self, country: str, change_id: str) -> None:
        self._timeline[country] = [a for a in self._timeline[country] if a.change_id != change_id]

    @property
    def applied_changes(self) -> int:
        return len(self._applied) + len(self._pins)

    @property
    def version(self) -> str:
        base = f"{self.pack.name}@{self.pack.pack.base_date.isoformat()}"
        return f"{base}+{self.applied_changes}" if self.applied_changes else base

    # -- questions -------------------------------------------------------------------------

    def canonical_country(self, country: str) -> str:
        """Hong Kong counts as China (and any other alias the pack declares)."""
        return self.pack.tiers.aliases.get(country, country)

    def _assignment(self, country: str, at: dt.datetime) -> _Assignment | None:
        timeline = self._timeline.get(country)
        if not timeline:
            return None
        idx = bisect.bisect_right([a.effective_from for a in timeline], at) - 1
        return timeline[idx] if idx >= 0 else None

    def tier(self, country: str, at: dt.datetime) -> Tier:
        country = self.canonical_country(country)
        assignment = self._assignment(country, at)
        if assignment is not None:
            return assignment.tier
        if country in self._tier3:
            return 3
        if country in self._tier1:
            return 1
        return self.pack.tiers.default

    def is_restricted_headquarters(self, country: str, at: dt.datetime) -> bool:
        """D:5 or Macau (Hong Kong as China): the headquarters rule's countries."""
        return self.tier(country, at) == 3

    def country_cap(self, country: str, at: dt.datetime) -> int | None:
        """The cumulative cap for a Tier 2 country at ``at``; None where no cap applies."""
        cap = self.pack.country_cap
        if cap is None or self.tier(country, at) != 2:
            return None
        assignment = self._assignment(self.canonical_country(country), at)
        if assignment is not None and assignment.cap_tpp is not None:
            return assignment.cap_tpp
        if country in cap.government_to_government_countries:
            return cap.tpp * cap.government_to_government_multiplier
        return cap.tpp

    def nveu_limit_tpp(self, at: dt.datetime) -> int | None:
        nveu = self.pack.nveu
        if nveu is None:
            return None
        for step in nveu.schedule:
            if at <= step.through:
                return step.h100_equivalents * nveu.h100_tpp
        return nveu.schedule[-1].h100_equivalents * nveu.h100_tpp

    def assignments(self) -> list[dict[str, object]]:
        """Every dated assignment (pack and streamed), for ``GET /policy``."""
        out: list[dict[str, object]] = []
        for country, timeline in sorted(self._timeline.items()):
            out.extend(
                {
                    "country": country,
                    "tier": a.tier,
                    "cap_tpp": a.cap_tpp,
                    "effective_from": a.effective_from.isoformat(),
                    "change_id": a.change_id,
                    "note": a.note,
                }
                for a in timeline
            )
        return out

    def describe(self) -> dict[str, object]:
        return {
            "pack": self.pack.name,
            "policy_version": self.version,
            "description": self.pack.pack.description,
            "framework": self.pack.pack.framework,
            "default_tier": self.pack.tiers.default,
            "tier1": sorted(self._tier1),
            "tier3": sorted(self._tier3),
            "aliases": dict(self.pack.tiers.aliases),
            "base_effective_from": self.pack.pack.base_date.isoformat(),
            "assignments": self.assignments(),
        }
