"""Restricted-party screening on the CSL samples in ../shared/data."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from rules.parties import PartyIndex, normalise_name, read_csl

DATA = Path(__file__).resolve().parents[4] / "shared" / "data"
SAMPLES = [DATA / "csl-2019-sample.csv", DATA / "csl-2025-sample.csv"]
pytestmark = pytest.mark.skipif(
    not all(p.exists() for p in SAMPLES), reason="../shared/data is not beside the checkout"
)


@pytest.fixture(scope="module")
def index() -> PartyIndex:
    return PartyIndex.from_csv(SAMPLES, as_of=dt.date(2025, 6, 1))


def test_both_schemas_load(index: PartyIndex) -> None:
    old = read_csl(SAMPLES[0].read_text(), dt.date(2025, 6, 1))
    new = read_csl(SAMPLES[1].read_text(), dt.date(2025, 6, 1))
    assert len(old) > 50 and len(new) >= 10
    assert len(index) == len(old) + len(new)


def test_normalisation() -> None:
    assert normalise_name("ACME Semiconductors Co., Ltd.") == "acme semiconductors"
    assert normalise_name("Müller GmbH") == "muller"
    assert (
        normalise_name("Sinobright Import and Export Company; and any successor, sub-unit")
        == "sinobright import and export"
    )


def test_exact_and_spelling_variants_match_and_explain(index: PartyIndex) -> None:
    hit = index.screen("Atlas Sanatgaran", "AM")
    assert hit and hit[0].entry_name == "Atlas Sanatgaran"
    assert "Unverified List" in hit[0].list_name
    assert hit[0].country_qualifier == "same country"
    variant = index.screen("Mohammad Abu Jhesheh")
    # the 2019 list has him as "ABU JHEISHEH, Mohammed", the 2025 one the other way round
    assert {m.entry_name for m in variant} == {"Mohammed ABU JHEISHEH", "ABU JHEISHEH, Mohammed"}
    explained = variant[0].explain()
    assert "ABU JHEISHEH" in explained and "score" in explained


def test_alt_names_match(index: PartyIndex) -> None:
    hit = index.screen("Mohammed ABU JEHEISHA")
    assert hit and hit[0].score == 100
    assert hit[0].matched_name in ("Mohammed ABU JEHEISHA", "ABU JEHEISHA, Mohammed")
    assert hit[0].matched_name != hit[0].entry_name  # found through an alt name


def test_lookalikes_sharing_one_common_word_do_not_match(index: PartyIndex) -> None:
    assert index.screen("Atlas Copco") == []
    assert index.screen("Academy of Fine Arts") == []
    assert index.screen("Sinobright Bakery") == []


def test_legal_suffixes_do_not_matter(index: PartyIndex) -> None:
    assert index.screen("200G PSA Holdings Limited")
    assert index.screen("200g psa holdings, l.l.c.")


def test_expired_denied_persons_are_ignored() -> None:
    rows = read_csl(SAMPLES[0].read_text(), dt.date(2025, 6, 1))
    names = {r.name for r in rows}
    assert "ADRIAN MANUEL HERNANDEZ" not in names  # denial ended 2020-10-13
    earlier = read_csl(SAMPLES[0].read_text(), dt.date(2019, 1, 1))
    assert "ADRIAN MANUEL HERNANDEZ" in {r.name for r in earlier}


def test_address_country_qualifies(index: PartyIndex) -> None:
    # A near-but-not-exact name in a country the entry does not list needs a stronger score.
    assert index.screen("Atlas Sanatgaran", "FR")  # exact: still a match
    assert index.screen("Atlas Sanatgeran", "AM")  # score 94: enough at home
    assert index.screen("Atlas Sanatgeran", "FR") == []  # not enough elsewhere


def test_not_a_csl_file() -> None:
    with pytest.raises(ValueError, match="not a CSL CSV"):
        read_csl("a,b\n1,2\n", dt.date(2025, 1, 1))
