"""Restricted-party screening cost: per call on the CSL samples and on a synthetic 20k-entry list.

    python bench/parties.py [--entries 20000] [--queries 2000]

Prints microseconds per call uncached (first sight of each name) and cached (names seen before).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import string
import time
from pathlib import Path

from rules.parties import ListEntry, PartyIndex

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
WORDS = ["global", "tech", "semiconductor", "trading", "electronics", "systems", "import",
         "export", "industrial", "research", "institute", "aerospace", "logistics", "cloud",
         "computing", "precision", "machinery", "digital", "advanced", "materials"]  # fmt: skip


def synthetic(n: int, rng: random.Random) -> list[ListEntry]:
    def word() -> str:
        return "".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 10)))

    entries = []
    for i in range(n):
        name = " ".join([word().title(), *rng.sample(WORDS, rng.randint(1, 3))])
        alts = tuple(f"{word().title()} {rng.choice(WORDS)}" for _ in range(rng.randint(0, 2)))
        cc = rng.choice(["CN", "RU", "IR", "AE", "HK", "SG", "TR", "BY"])
        entries.append(ListEntry("Entity List (EL)", name, alts, frozenset({cc}), str(i), "",
                                 "", ""))  # fmt: skip
    return entries


def per_call_us(index: PartyIndex, queries: list[str]) -> float:
    start = time.perf_counter()
    for q in queries:
        index.screen(q, "CN")
    return (time.perf_counter() - start) / len(queries) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=2_000)
    args = parser.parse_args()
    rng = random.Random(7)
    lists = {}
    samples = [p for p in (SHARED / "csl-2019-sample.csv", SHARED / "csl-2025-sample.csv")
               if p.exists()]  # fmt: skip
    if samples:
        lists["CSL samples"] = PartyIndex.from_csv(samples, as_of=dt.date(2025, 6, 1))
    lists[f"synthetic {args.entries:,}"] = PartyIndex(synthetic(args.entries, rng))
    for label, index in lists.items():
        names = [e.name for e in index.entries]
        # half near-misses of listed names (typos), half unrelated company names
        queries = []
        for i in range(args.queries):
            if i % 2:
                base = rng.choice(names)
                pos = rng.randrange(len(base))
                queries.append(base[:pos] + rng.choice(string.ascii_lowercase) + base[pos + 1 :])
            else:
                queries.append(f"{rng.choice(WORDS).title()} {rng.choice(WORDS)} Ltd {i}")
        cold = per_call_us(index, queries)
        warm = per_call_us(index, queries)
        print(
            f"{label:22s} entries {len(index):>7,}  "
            f"uncached {cold:8.1f} us/call ({1e6 / cold:>9,.0f}/s)  "
            f"cached {warm:6.2f} us/call ({1e6 / warm:>11,.0f}/s)"
        )


if __name__ == "__main__":
    main()
