"""Classification, with the worked figures of DOMAIN.md s.2."""

from __future__ import annotations

import pytest

from rules.catalog import Basis, classify_line, load_catalog
from rules.policy import load_pack
from schemas.models import OrderLine

RULES = load_pack("ai-diffusion-2025").classification


def classify(**line: object) -> tuple[bool, Basis, int | None]:
    got = classify_line(OrderLine.model_validate(line), load_catalog(), RULES)
    return got.controlled, got.basis, got.tpp_per_unit


@pytest.mark.parametrize(
    ("part", "controlled", "tpp"),
    [
        ("H100-SXM", True, 15_832),
        ("nvidia h100 sxm", True, 15_832),  # alias, any case and spacing
        ("A100", True, 4_992),  # under 4800? no: 4992 >= 4800
        ("H20", False, 2_368),  # PD 2.9: not 3A090.a
        ("L4", True, 1_936),  # density prong: TPP >= 1600 and PD 6.6 >= 5.92
        ("L40S", True, 5_864),
        ("MI300X", True, 20_919),
    ],
)
def test_catalog_parts(part: str, controlled: bool, tpp: int) -> None:
    assert classify(part_number=part, quantity=1) == (controlled, Basis.CATALOG, tpp)


@pytest.mark.parametrize(
    ("tpp", "die", "controlled", "basis"),
    [
        (4800, None, True, Basis.THRESHOLDS),  # inclusive
        (4799, 2000, False, Basis.THRESHOLDS),  # PD 2.4
        (4799, None, False, Basis.UNCLASSIFIED),  # density prong needed, no die area
        (1600, 1600 / 5.92, True, Basis.THRESHOLDS),  # PD exactly 5.92: inclusive
        (1600, 1600 / 5.91, False, Basis.THRESHOLDS),
        (1599, 1, False, Basis.THRESHOLDS),  # under the density floor whatever the PD
    ],
)
def test_thresholds_on_unlisted_parts(
    tpp: int, die: float | None, controlled: bool, basis: Basis
) -> None:
    got = classify(part_number="custom-x", quantity=1, tpp_per_unit=tpp, die_area_mm2=die)
    assert got[:2] == (controlled, basis)


def test_explicit_eccn_wins_over_catalog() -> None:
    assert classify(part_number="H20", quantity=1, eccn="3A090.a")[:2] == (True, Basis.ECCN)
    assert classify(part_number="H100-SXM", quantity=1, eccn="EAR99")[:2] == (False, Basis.ECCN)
    assert classify(part_number="srv", quantity=1, eccn="4A090.a", tpp_per_unit=126_656)[0]


def test_unknown_part_without_figures_is_unclassified() -> None:
    assert classify(part_number="mystery", quantity=1) == (False, Basis.UNCLASSIFIED, None)


def test_line_tpp_overrides_catalog() -> None:
    assert classify(part_number="A100", quantity=1, tpp_per_unit=4000)[2] == 4000


def test_prc_made_parts_are_flagged() -> None:
    got = classify_line(OrderLine(part_number="Ascend 910C", quantity=1), load_catalog(), RULES)
    assert got.prc_made and got.controlled
