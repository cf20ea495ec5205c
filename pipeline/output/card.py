"""``DATACARD.md``: a Hugging Face dataset card per version, written from the manifest.

The YAML header declares the licenses and one dataset config per kind (`splits.CONFIGS`) with
explicit ``data_files``, so ``datasets.load_dataset(version_dir, "sft")`` reads ``data/sft/``
and never trips over ``ledger.parquet`` next to it. ``sft`` is the default config. The same card
is written as ``README.md`` too, the name the Hub and ``datasets`` look for.

The body lists sources and licenses, what every filter dropped, the holdouts contamination was
checked against, the seed and the command that rebuilds the version. Like the report, it is a
pure function of the manifest, so rebuilds write the same bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.output.splits import CONFIGS

CARD_FILES = ("DATACARD.md", "README.md")
LICENSE = "license"  # the record column (also the name of a stage)
_HF_LICENSES = {
    "apache-2.0",
    "mit",
    "cc-by-4.0",
    "cc-by-sa-4.0",
    "cc-by-nc-4.0",
    "cc-by-nc-sa-4.0",
    "cc0-1.0",
    "bsd-3-clause",
    "bsd-2-clause",
    "gpl-3.0",
    "lgpl-3.0",
    "odc-by",
    "odbl",
    "cc-by-3.0",
    "cc-by-sa-3.0",
    "openrail",
    "llama2",
    "llama3",
    "unlicense",
    "wtfpl",
}


def hub_license(spdx: str) -> str:
    """Map an SPDX id to the Hub's license id (``other`` when the Hub has none).

    >>> hub_license("CC-BY-4.0"), hub_license("unknown")
    ('cc-by-4.0', 'other')
    """
    lowered = spdx.lower()
    return lowered if lowered in _HF_LICENSES else "other"


def _yaml_header(manifest: dict[str, Any], licenses: list[str], rows: dict[str, int]) -> list[str]:
    hub = sorted({hub_license(x) for x in licenses}) or ["other"]
    lines = ["---", "license:"] + [f"- {x}" for x in hub]
    others = sorted(x for x in licenses if hub_license(x) == "other")
    if others:
        lines.append(f'license_details: "{", ".join(others)}"')
    lines += ["tags:", "- mixgate", "configs:"]
    for i, config in enumerate(CONFIGS):
        lines += [f"- config_name: {config}"]
        if i == 0:
            lines.append("  default: true")
        lines += ["  data_files:", "  - split: train", f"    path: data/{config}/*.parquet"]
    lines.append("---")
    return lines


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in rows]
    return out


def render_card(
    manifest: dict[str, Any], *, licenses: dict[str, int], config_rows: dict[str, int]
) -> str:
    """Return the dataset card for a version (licenses = records per license in the mixture)."""
    parsed = manifest["spec"]["parsed"]
    name, version = manifest["name"], manifest["version"]
    lines = _yaml_header(manifest, sorted(licenses), config_rows)
    lines += [
        "",
        f"# {name} {version}",
        "",
        f"A training mixture built by mixgate from `{manifest['spec']['file']}` "
        f"(seed {parsed['seed']}, {manifest['slices']['total']['actual']} records).",
        "",
    ]
    lines += _configs_section(config_rows)
    lines += _sources_section(manifest)
    lines += ["", "## Licenses in the mixture", ""]
    lines += _table([LICENSE, "records"], [[k, v] for k, v in sorted(licenses.items())])
    lines += ["", "## Filters", ""]
    lines += _table(["stage", "rule", "reason", "records dropped"], _filter_rows(manifest))
    lines += _contamination_section(manifest)
    lines += [
        "",
        "## Reproduce",
        "",
        f"Seed {parsed['seed']}, code {manifest.get('code_version', '')}, fingerprint "
        f"`{manifest['fingerprint'][:16]}`. Every file's sha256 is in `manifest.json`.",
        "",
        "```sh",
        "mixgate rebuild path/to/this/version --out /tmp/again",
        "```",
        "",
    ]
    return "\n".join(lines)


def _configs_section(config_rows: dict[str, int]) -> list[str]:
    """The two configs, their records and formats, and how to load them."""
    lines = ["## Configs", ""]
    lines += _table(
        ["config", "records", "format"],
        [
            [
                "sft",
                config_rows.get("sft", 0),
                "`messages` (TRL conversational language modeling); synthetic rows have `kind: synthetic`",
            ],
            [
                "preference",
                config_rows.get("preference", 0),
                "`prompt`, `chosen`, `rejected` (TRL conversational preference)",
            ],
        ],
    )
    lines += [
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        'sft = load_dataset("path/to/this/version", "sft", split="train")',
        'preference = load_dataset("path/to/this/version", "preference", split="train")',
        "```",
        "",
    ]
    return lines


def _sources_section(manifest: dict[str, Any]) -> list[str]:
    """Each source's kind, license, records read and records kept after the filters."""
    lines = ["## Sources", ""]
    parsed = manifest["spec"]["parsed"]
    recon = manifest["counts"]["reconciliation"]
    sources = {s["name"]: s for s in parsed["sources"]}
    lines += _table(
        ["source", "kind", "license", "read", "kept after filters"],
        [
            [
                n,
                sources.get(n, {}).get("kind", ""),
                sources.get(n, {}).get("license", ""),
                r["read"],
                r["pool"],
            ]
            for n, r in recon.items()
        ],
    )
    return lines


def _contamination_section(manifest: dict[str, Any]) -> list[str]:
    """The holdouts the mixture was checked against, or that none were declared."""
    lines = ["", "## Contamination", ""]
    holdouts = manifest.get("holdouts", [])
    if holdouts:
        lines.append(
            f"Checked against {len(holdouts)} holdout file(s) (rule `{manifest['rules'].get('decontam', '')}`):"
        )
        lines.append("")
        lines += _table(
            ["holdout", "file", "items", "sha256"],
            [[h["holdout"], h["path"], h["records"], h["sha256"][:16]] for h in holdouts],
        )
    else:
        lines.append("No holdouts were declared: this mixture was not checked for contamination.")
    return lines


def _filter_rows(manifest: dict[str, Any]) -> list[list[Any]]:
    order = manifest["slices"]["shift"]["stages"]
    stages = manifest["counts"]["stages"]
    rules = manifest.get("rules", {})
    rows = []
    for stage in [s for s in order if s in stages] + sorted(set(stages) - set(order)):
        totals: dict[str, int] = {}
        for counts in stages[stage].values():
            for reason, n in counts["dropped_by_reason"].items():
                totals[reason] = totals.get(reason, 0) + n
        rows += [[stage, rules.get(stage, ""), reason, n] for reason, n in sorted(totals.items())]
    return rows


def mixture_counts(version_dir: Path) -> tuple[dict[str, int], dict[str, int]]:
    """Records per license and per config in a version's data files."""
    import pyarrow.parquet as pq

    licenses: dict[str, int] = {}
    configs: dict[str, int] = {}
    for config in CONFIGS:
        for part in sorted((Path(version_dir) / "data" / config).glob("*.parquet")):
            table = pq.read_table(part, columns=[LICENSE])
            configs[config] = configs.get(config, 0) + table.num_rows
            for value in table.column(LICENSE).to_pylist():
                licenses[value] = licenses.get(value, 0) + 1
    return licenses, configs


def write_card(version_dir: Path, manifest: dict[str, Any]) -> None:
    """Write ``DATACARD.md`` and the same bytes as ``README.md`` into `version_dir`."""
    licenses, configs = mixture_counts(version_dir)
    text = render_card(manifest, licenses=licenses, config_rows=configs)
    for name in CARD_FILES:
        (Path(version_dir) / name).write_text(text, encoding="utf-8")
