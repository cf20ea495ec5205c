"""Slice supply estimated from the first rows of each source, before any build starts.

`mixgate check` (and `build`, before Prefect starts) scales the label counts of the rows it
read to each file's size, then compares each slice's capacity with its quota, before and after
the synthetic cap, so that a mixture that cannot be filled is reported in a second, naming the
cap when the cap, not the data, makes a slice short.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from pipeline.build.problems import Problem, SpecDocument
from pipeline.spec import LabelSpec, SliceSpec, SourceSpec

REDISTRIBUTE_WARN_POINTS = 5.0


def _labels_of(spec: Any) -> set[str] | None:
    """The labels a source's `intent`/`difficulty` setting can produce (None: any)."""
    if isinstance(spec, str):
        return {spec}
    if isinstance(spec, LabelSpec) and spec.map is not None:
        return set(spec.map.values())
    return None


def could_feed(source: SourceSpec, slice_: SliceSpec) -> bool:
    """Whether `source` can produce records for `slice_` at all (by its declared labels)."""
    intents, difficulties = _labels_of(source.intent), _labels_of(source.difficulty)
    return (intents is None or slice_.intent in intents) and (
        difficulties is None or slice_.difficulty in difficulties
    )


def estimate_supply(
    doc: SpecDocument, parts: dict[str, Any], probes: list[Any], *, failed: list[SourceSpec]
) -> tuple[list[dict[str, Any]], list[Problem]]:
    """Estimate each slice's supply and capacity, before and after the synthetic cap.

    Sources in `failed` could not be read or mapped; a slice they could feed is then only
    warned about, never reported as an error.
    """
    from pipeline.stages.sample import _redistribute, largest_remainder

    slices: list[tuple[int, SliceSpec]] = parts.get("slices", [])
    sampling = parts.get("sampling")
    total = parts.get("total")
    if not slices or sampling is None or not isinstance(total, int) or total <= 0:
        return [], []
    counts: Counter = Counter()
    for probe in probes:
        counts.update(probe.counts)
    exact = all(p.exact for p in probes)
    weights = [s.weight for _, s in slices]
    quotas = largest_remainder(weights, total)
    caps: list[int | None] = [None] * len(slices)
    if sampling.synthetic_max_share is not None:
        cap_total = math.floor(sampling.synthetic_max_share * total + 1e-9)
        caps = list(largest_remainder([float(q) for q in quotas], cap_total))
    rows = []
    for (index, spec), quota, cap in zip(slices, quotas, caps, strict=True):
        human = round(counts[(spec.intent, spec.difficulty, False)])
        synth = round(counts[(spec.intent, spec.difficulty, True)])
        uncapped = (human + synth) * sampling.max_repeats
        capped = (
            uncapped
            if cap is None
            else human * sampling.max_repeats + min(synth * sampling.max_repeats, cap)
        )
        rows.append(
            {
                "index": index,
                "intent": spec.intent,
                "difficulty": spec.difficulty,
                "weight": spec.weight,
                "quota": quota,
                "supply": human + synth,
                "synthetic": synth,
                "synthetic_cap": cap,
                "capacity_before_cap": uncapped,
                "capacity": capped,
                "exact": exact and not any(could_feed(f, spec) for f in failed),
                "not_counted": sorted(f.name for f in failed if could_feed(f, spec)),
            }
        )
    return rows, _shortfall_problems(doc, rows, sampling, total, _redistribute)


def _shortfall_problems(
    doc: SpecDocument, rows: list[dict[str, Any]], sampling: Any, total: int, redistribute: Any
) -> list[Problem]:
    problems = []
    short = [r for r in rows if r["capacity"] < r["quota"]]
    for r in short:
        message = (
            f"slice {r['intent']}/{r['difficulty']} needs {r['quota']} records; estimated supply "
            f"{r['supply']} ({r['capacity']} picks with max_repeats {sampling.max_repeats})"
        )
        if r["capacity_before_cap"] >= r["quota"]:
            message += (
                f": the synthetic cap causes it (`sampling.synthetic_max_share` "
                f"{sampling.synthetic_max_share} allows {r['synthetic_cap']} synthetic records "
                f"here; {r['synthetic']} available)"
            )
        if sampling.shortfall == "error":
            severity = "error" if r["exact"] else "warning"
            message += "; set `sampling.shortfall`, raise `sampling.max_repeats`, or add data"
            if r["not_counted"]:
                message += (
                    f" (not counted: sources {', '.join(r['not_counted'])}, which have errors)"
                )
            problems.append(doc.problem(("slices", r["index"]), message, severity=severity))
        elif sampling.shortfall == "allow_short":
            problems.append(
                doc.problem(
                    ("slices", r["index"]),
                    message + "; the mixture will be short",
                    severity="warning",
                )
            )
    if short and sampling.shortfall == "redistribute":
        targets = redistribute(
            [r["quota"] for r in rows], [r["capacity"] for r in rows], [r["weight"] for r in rows]
        )
        for r, target in zip(rows, targets, strict=True):
            r["target"] = target
            moved = 100.0 * (target - r["quota"]) / total
            if abs(moved) > REDISTRIBUTE_WARN_POINTS:
                problems.append(
                    doc.problem(
                        ("slices", r["index"]),
                        (
                            f"redistribution moves slice {r['intent']}/{r['difficulty']} from "
                            f"{100 * r['quota'] / total:.1f}% to {100 * target / total:.1f}% of the mixture "
                            f"({r['quota']} -> {target} records, estimated)"
                        ),
                        severity="warning",
                    )
                )
    return problems
