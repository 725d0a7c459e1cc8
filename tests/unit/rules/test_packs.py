from __future__ import annotations

import datetime as dt
import tomllib
from importlib import resources

import pytest

from rules.catalog import load_catalog
from rules.policy import PackError, PolicyView, available_packs, load_pack, parse_pack
from tests.unit.rules.builders import T0, change, view

DEFAULT = "ai-diffusion-2025"
RESCINDED = "post-rescission-2025-05"


def _raw(name: str) -> str:
    return (resources.files("rules") / "packs" / f"{name}.toml").read_text()


def test_both_packs_ship_and_validate() -> None:
    assert set(available_packs()) == {DEFAULT, RESCINDED}
    assert load_pack(DEFAULT).pack.framework is True
    assert load_pack(RESCINDED).pack.framework is False


def test_default_pack_figures_match_domain() -> None:
    pack = load_pack(DEFAULT)
    assert pack.country_cap is not None and pack.country_cap.tpp == 790_000_000
    assert pack.country_cap.government_to_government_multiplier == 2
    assert pack.lpp is not None and pack.lpp.limit_tpp == 26_900_000
    assert pack.uveu is not None
    assert (pack.uveu.min_tier1_share, pack.uveu.max_single_country_share) == (0.75, 0.07)
    assert pack.uveu.min_us_share_if_us_headquartered == 0.50
    assert pack.classification.tpp_threshold == 4800
    assert pack.classification.density_threshold == 5.92
    assert len(pack.tiers.tier1.countries) == 19  # the US and 18 partners
    assert len(pack.tiers.tier3.countries) == 24  # D:5's 23 entries and Macau


def test_every_section_names_its_source_and_unconfirmed_figures_say_so() -> None:
    data = tomllib.loads(_raw(DEFAULT))
    for section in ("tiers", "country_cap", "lpp", "uveu", "nveu", "classification",
                    "red_flags", "parties"):  # fmt: skip
        assert data[section]["source"], section
    assert data["country_cap"]["unconfirmed"] is True
    assert data["nveu"]["unconfirmed"] is True
    unconfirmed_chips = {c.part for c in load_catalog().chips if c.unconfirmed}
    assert {"H100-PCIE", "MI300X", "ASCEND-910B", "ASCEND-910C"} <= unconfirmed_chips


def test_rescinded_pack_has_no_caps_lpp_or_veu_but_keeps_d5() -> None:
    pack = load_pack(RESCINDED)
    assert (pack.country_cap, pack.lpp, pack.uveu, pack.nveu) == (None, None, None, None)
    assert pack.pack.prc_advanced_ic_hold is True
    v = PolicyView(pack)
    assert v.tier("CN", T0) == 3 and v.tier("MO", T0) == 3 and v.tier("IN", T0) == 1


@pytest.mark.parametrize(
    ("country", "tier"),
    [("US", 1), ("TW", 1), ("IN", 2), ("AE", 2), ("CN", 3), ("HK", 3), ("MO", 3), ("RU", 3)],
)
def test_tiers(country: str, tier: int) -> None:
    assert view().tier(country, T0) == tier


def test_pack_dated_change_cambodia_leaves_d5() -> None:
    v = view()
    assert v.tier("KH", dt.datetime(2026, 2, 2, tzinfo=dt.UTC)) == 3
    assert v.tier("KH", dt.datetime(2026, 2, 3, tzinfo=dt.UTC)) == 2


def test_policy_change_applies_from_its_effective_date_only() -> None:
    at = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
    v = view(DEFAULT, change("PL", 1, at))
    assert v.tier("PL", at - dt.timedelta(seconds=1)) == 2  # late events keep the old tier
    assert v.tier("PL", at) == 1
    assert v.country_cap("PL", at) is None
    assert v.country_cap("PL", at - dt.timedelta(days=1)) == 790_000_000


def test_policy_version_counts_applied_changes() -> None:
    v = view()
    assert v.version == "ai-diffusion-2025@2025-01-13"
    first = change("PL", 1, T0)
    assert v.apply(first) is True
    assert v.apply(first) is False  # a compacted topic replays: same record, no new version
    assert v.apply(change("AE", 3, T0, pack=RESCINDED)) is False  # another pack's change
    assert v.apply(change("AE", 2, T0, cap_tpp=1_580_000_000)) is True
    assert v.version == "ai-diffusion-2025@2025-01-13+2"
    assert v.country_cap("AE", T0) == 1_580_000_000


def test_a_change_with_the_same_id_replaces_the_earlier_one() -> None:
    v = view()
    v.apply(change("PL", 1, T0, change_id="PL"))
    v.apply(change("PL", 3, T0, change_id="PL"))
    assert v.tier("PL", T0) == 3
    assert len([a for a in v.assignments() if a["country"] == "PL"]) == 1


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace('"TW", "GB"]', '"TW", "GB", "XX"]'), "unknown country codes: XX"),
        (lambda t: t.replace("TRANSSHIPMENT_HUB = 0.30\n", ""), "no weight for signals"),
        (lambda t: t.replace("[lpp]", "[lpp_renamed]"), "lpp"),
        (lambda t: t.replace("tpp = 790_000_000", "tpp = -1"), "greater than 0"),
        (lambda t: t + "\nstray = [", "policy pack"),
    ],
)
def test_invalid_packs_are_refused_with_a_reason(edit: object, message: str) -> None:
    with pytest.raises(PackError, match=message):
        parse_pack(edit(_raw(DEFAULT)), "edited.toml")  # type: ignore[operator]


def test_unknown_pack_name() -> None:
    with pytest.raises(PackError, match="available: ai-diffusion-2025"):
        load_pack("nope")


def test_pinned_country_keeps_its_tier_whatever_the_changes() -> None:
    v = view()
    v.pin("PL", 3)
    v.apply(change("PL", 1, T0))
    assert v.tier("PL", T0) == 3 and v.tier("PL", dt.datetime(2024, 1, 1, tzinfo=dt.UTC)) == 3
    assert v.version == "ai-diffusion-2025@2025-01-13+2"
