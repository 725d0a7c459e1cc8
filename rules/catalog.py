"""The chip catalog and line classification.

A line is classified by, in order: its explicit ECCN; else the catalog entry for its part number
(or an alias); else the 3A090.a thresholds applied to the TPP and die area the line carries;
else it is unclassified (and holds the order).
"""

from __future__ import annotations

import dataclasses
import tomllib
from enum import StrEnum
from functools import cache
from importlib import resources

from pydantic import BaseModel, ConfigDict, Field

from rules.policy import Classification
from schemas.models import OrderLine


class Chip(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    part: str
    aliases: list[str] = Field(default_factory=list)
    maker: str
    tpp: int | None = None
    die_area_mm2: float | None = None
    pd: float | None = None
    unconfirmed: bool = False
    prc_made: bool = False


class Catalog:
    def __init__(self, chips: list[Chip]) -> None:
        self.chips = chips
        self._by_name: dict[str, Chip] = {}
        for chip in chips:
            for name in (chip.part, *chip.aliases):
                key = normalise_part(name)
                if key in self._by_name and self._by_name[key] is not chip:
                    raise ValueError(f"catalog name {name!r} names two parts")
                self._by_name[key] = chip

    def lookup(self, part_number: str) -> Chip | None:
        return self._by_name.get(normalise_part(part_number))


def normalise_part(name: str) -> str:
    return "".join(ch for ch in name.upper() if ch.isalnum())


@cache
def load_catalog() -> Catalog:
    text = (resources.files("rules") / "data" / "chips.toml").read_text()
    data = tomllib.loads(text)
    return Catalog([Chip.model_validate(c) for c in data["chip"]])


class Basis(StrEnum):
    ECCN = "eccn"
    CATALOG = "catalog"
    THRESHOLDS = "thresholds"
    UNCLASSIFIED = "unclassified"


@dataclasses.dataclass(frozen=True, slots=True)
class ClassifiedLine:
    part_number: str
    quantity: int
    controlled: bool
    basis: Basis
    tpp_per_unit: int | None
    prc_made: bool = False
    why: str = ""

    @property
    def classified(self) -> bool:
        # A controlled line must have a TPP to count against caps and allowances.
        return self.basis is not Basis.UNCLASSIFIED and not (
            self.controlled and self.tpp_per_unit is None
        )

    @property
    def tpp(self) -> int:
        """Units x TPP per unit, counting controlled lines only."""
        if not self.controlled or self.tpp_per_unit is None:
            return 0
        return self.quantity * self.tpp_per_unit


def meets_3a090a(tpp: int, density: float | None, rules: Classification) -> bool | None:
    """True/False by the 3A090.a thresholds (inclusive); None when the density prong is needed
    but no density is known."""
    if tpp >= rules.tpp_threshold:
        return True
    if tpp < rules.density_tpp_floor:
        return False
    if density is None:
        return None
    return density >= rules.density_threshold


def classify_line(line: OrderLine, catalog: Catalog, rules: Classification) -> ClassifiedLine:
    chip = catalog.lookup(line.part_number)
    tpp = line.tpp_per_unit if line.tpp_per_unit is not None else (chip.tpp if chip else None)
    prc_made = bool(chip and chip.prc_made)

    def result(
        controlled: bool, basis: Basis, tpp_per_unit: int | None, why: str
    ) -> ClassifiedLine:
        return ClassifiedLine(
            line.part_number, line.quantity, controlled, basis, tpp_per_unit, prc_made, why
        )

    if line.eccn is not None:
        controlled = line.eccn in rules.controlled_eccns
        return result(controlled, Basis.ECCN, tpp, f"ECCN {line.eccn} given on the line")
    if chip is not None:
        density = _density(tpp, line.die_area_mm2 or chip.die_area_mm2, chip.pd)
        if tpp is None:
            # Known part, no figure (e.g. Ascend 910D): PRC-made parts are presumed 3A090.
            return result(
                prc_made,
                Basis.UNCLASSIFIED,
                None,
                f"catalog part {chip.part} has no TPP figure and the line gives none",
            )
        verdict = meets_3a090a(tpp, density, rules)
        if verdict is not None:
            return result(
                verdict,
                Basis.CATALOG,
                tpp,
                f"catalog part {chip.part}: TPP {tpp}" + _pd_text(density),
            )
    if tpp is not None:
        density = _density(tpp, line.die_area_mm2, None)
        verdict = meets_3a090a(tpp, density, rules)
        if verdict is not None:
            return result(
                verdict,
                Basis.THRESHOLDS,
                tpp,
                f"3A090.a thresholds on the line's TPP {tpp}" + _pd_text(density),
            )
        return result(
            False,
            Basis.UNCLASSIFIED,
            tpp,
            f"TPP {tpp} needs the density prong but the die area is unknown",
        )
    return result(
        False,
        Basis.UNCLASSIFIED,
        None,
        f"part {line.part_number!r} is not in the catalog and the line gives no TPP",
    )


def _density(tpp: int | None, die_area: float | None, pd: float | None) -> float | None:
    if pd is not None:
        return pd
    if tpp is None or not die_area:
        return None
    return tpp / die_area


def _pd_text(density: float | None) -> str:
    return f", PD {density:.2f}" if density is not None else ""
