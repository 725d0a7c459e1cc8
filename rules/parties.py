"""Restricted-party screening against the US Consolidated Screening List (CSL) CSV.

Both CSL CSV schemas load (the 2019 one, and the current one with a leading ``_id``). Names and
alt names are normalised (case, accents, punctuation, legal suffixes such as Ltd/LLC/GmbH/Pte/Co)
and scored with rapidfuzz's token-sort ratio, which forgives spelling variants and word order
but not a different name that happens to share one common word. Every match explains itself.

Cost: candidates come from a token index (entries sharing a token, or a token's first three
letters, with the query) so a call scores tens of names, not the whole list; results are cached
by normalised name for the index's lifetime (one list version).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import io
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from rapidfuzz import fuzz, process

LEGAL_SUFFIXES = frozenset(
    [
        "ltd",
        "limited",
        "llc",
        "l",
        "l",
        "c",
        "gmbh",
        "pte",
        "co",
        "company",
        "corp",
        "corporation",
        "inc",
        "incorporated",
        "plc",
        "sa",
        "s",
        "a",
        "ag",
        "bv",
        "b",
        "v",
        "nv",
        "n",
        "v",
        "oy",
        "ab",
        "as",
        "a",
        "s",
        "spa",
        "s",
        "p",
        "a",
        "srl",
        "sarl",
        "kg",
        "mbh",
        "lp",
        "llp",
        "pty",
        "jsc",
        "ojsc",
        "cjsc",
        "pjsc",
        "ooo",
        "zao",
        "oao",
        "kk",
        "k",
        "k",
        "tbk",
        "bhd",
        "sdn",
        "fze",
        "fzco",
        "fzc",
        "fzllc",
        "dmcc",
    ]
)
# CSL names carry clauses that are not part of the name.
_CLAUSES = re.compile(r";\s*and any successor.*$|,?\s*and any successor.*$", re.IGNORECASE)
_NON_WORD = re.compile(r"[^0-9a-z]+")


def normalise_name(name: str) -> str:
    name = _CLAUSES.sub("", name)
    decomposed = unicodedata.normalize("NFKD", name)
    ascii_only = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()
    tokens = [t for t in _NON_WORD.sub(" ", ascii_only).split() if t not in LEGAL_SUFFIXES]
    return " ".join(tokens)


@dataclasses.dataclass(frozen=True, slots=True)
class ListEntry:
    source: str
    name: str
    alt_names: tuple[str, ...]
    countries: frozenset[str]
    entity_number: str
    start_date: str
    end_date: str
    license_requirement: str


@dataclasses.dataclass(frozen=True, slots=True)
class PartyMatch:
    """Why a party matched: which list, which entry, which of its names, how well."""

    list_name: str
    entry_name: str
    matched_name: str
    score: float
    country_qualifier: str  # "same country", "other country" or "no address country"

    def explain(self) -> str:
        return (
            f"{self.list_name}: '{self.entry_name}' (matched '{self.matched_name}', "
            f"score {self.score:.0f}, {self.country_qualifier})"
        )


def _is_expired_denial(row: dict[str, str], as_of: dt.date) -> bool:
    if "Denied Persons" not in row.get("source", ""):
        return False
    end = (row.get("end_date") or "").strip()
    if not end:
        return False
    try:
        return dt.date.fromisoformat(end[:10]) < as_of
    except ValueError:
        return False


def _address_countries(addresses: str) -> frozenset[str]:
    out = set()
    for address in addresses.split(";"):
        last = address.rsplit(",", 1)[-1].strip()
        if len(last) == 2 and last.isalpha() and last.isupper():
            out.add(last)
    return frozenset(out)


def read_csl(text: str, as_of: dt.date) -> list[ListEntry]:
    """Entries from CSL CSV text (either schema), dropping denials that expired before as_of."""
    reader = csv.DictReader(io.StringIO(text))
    required = {"source", "name", "alt_names", "addresses"}
    missing = required - set(reader.fieldnames or [])
    if missing:
        raise ValueError(f"not a CSL CSV: missing columns {sorted(missing)}")
    entries = []
    for row in reader:
        if not (row.get("name") or "").strip() or _is_expired_denial(row, as_of):
            continue
        alt = tuple(a.strip() for a in (row.get("alt_names") or "").split(";") if a.strip())
        entries.append(
            ListEntry(
                source=row["source"].strip(),
                name=row["name"].strip(),
                alt_names=alt,
                countries=_address_countries(row.get("addresses") or ""),
                entity_number=(row.get("entity_number") or "").strip(),
                start_date=(row.get("start_date") or "").strip(),
                end_date=(row.get("end_date") or "").strip(),
                license_requirement=(row.get("license_requirement") or "").strip(),
            )
        )
    return entries


class PartyIndex:
    """An in-memory index of list entries for fuzzy name screening."""

    def __init__(
        self,
        entries: Iterable[ListEntry],
        *,
        threshold: float = 88,
        foreign_threshold: float = 95,
        version: str = "",
    ) -> None:
        self.entries = list(entries)
        self.threshold = threshold
        self.foreign_threshold = foreign_threshold
        self.version = version or self._fingerprint()
        # (normalised name, original name, entry index) for every name and alt name
        self._names: list[tuple[str, str, int]] = []
        self._by_token: dict[str, list[int]] = defaultdict(list)
        for idx, entry in enumerate(self.entries):
            for original in (entry.name, *entry.alt_names):
                norm = normalise_name(original)
                if not norm:
                    continue
                name_id = len(self._names)
                self._names.append((norm, original, idx))
                for key in (*_block_keys(norm), *_pair_keys(norm)):
                    self._by_token[key].append(name_id)
        self._cached = lru_cache(maxsize=65536)(self._screen_normalised)

    def _fingerprint(self) -> str:
        digest = hashlib.sha256()
        for e in self.entries:
            digest.update(f"{e.source}|{e.name}|{'|'.join(e.alt_names)}\n".encode())
        return digest.hexdigest()[:12]

    @classmethod
    def from_csv(
        cls, paths: Iterable[Path], *, as_of: dt.date, threshold: float = 88,
        foreign_threshold: float = 95,
    ) -> PartyIndex:  # fmt: skip
        entries: list[ListEntry] = []
        for path in paths:
            entries.extend(read_csl(path.read_text(encoding="utf-8"), as_of))
        return cls(entries, threshold=threshold, foreign_threshold=foreign_threshold)

    def __len__(self) -> int:
        return len(self.entries)

    def screen(self, name: str, country: str | None = None) -> list[PartyMatch]:
        """Matches for a party, best first; empty when nothing reaches the threshold."""
        return list(self._cached(normalise_name(name), country))

    def _screen_normalised(self, norm: str, country: str | None) -> tuple[PartyMatch, ...]:
        if not norm:
            return ()
        candidates = self._candidates(norm)
        best: dict[int, PartyMatch] = {}
        query_tokens = norm.split()
        scored = process.extract(
            norm,
            [self._names[i][0] for i in candidates],
            scorer=fuzz.token_sort_ratio,
            score_cutoff=self.threshold,
            limit=None,
        )
        for _, score, pos in scored:
            cand_norm, original, entry_idx = self._names[candidates[pos]]
            if not _enough_tokens_agree(query_tokens, cand_norm.split()):
                continue
            entry = self.entries[entry_idx]
            if not entry.countries or country is None:
                qualifier = "no address country"
            elif country in entry.countries:
                qualifier = "same country"
            else:
                qualifier = "other country"
                if score < self.foreign_threshold:
                    continue
            match = PartyMatch(entry.source, entry.name, original, score, qualifier)
            if entry_idx not in best or best[entry_idx].score < score:
                best[entry_idx] = match
        return tuple(sorted(best.values(), key=lambda m: -m.score))

    def _candidates(self, norm: str) -> list[int]:
        """Names sharing a block key with the query, from the rarest keys: a word that appears
        in a large part of the list ("trading", "technology") says little and costs a lot."""
        postings = sorted(
            (self._by_token[key] for key in _block_keys(norm) if key in self._by_token), key=len
        )
        common = max(64, len(self._names) // 200)
        chosen = [p for p in postings if len(p) <= common]
        if not chosen:
            # Only common words: a match must agree on two of them (see _enough_tokens_agree),
            # so names sharing a pair of the query's words are the candidates.
            pairs = [self._by_token[k] for k in _pair_keys(norm) if k in self._by_token]
            chosen = pairs or postings[:1]
        out: set[int] = set()
        for posting in chosen:
            out.update(posting)
        return sorted(out)


def _block_keys(norm: str) -> set[str]:
    keys = set()
    for token in norm.split():
        keys.add(token)
        if len(token) >= 3:
            keys.add("^" + token[:3])
    return keys


def _pair_keys(norm: str) -> set[str]:
    tokens = sorted(set(norm.split()))
    return {f"{a}|{b}" for i, a in enumerate(tokens) for b in tokens[i + 1 :]}


def _enough_tokens_agree(query: list[str], candidate: list[str]) -> bool:
    """Multi-word names must agree on at least two words (allowing for spelling), so a look-alike
    that shares one common word ('Atlas Copco' vs 'Atlas Sanatgaran') does not match."""
    if len(query) < 2 or len(candidate) < 2:
        return True
    agreeing = sum(1 for q in query if any(fuzz.ratio(q, c) >= 80 for c in candidate))
    return agreeing >= 2
