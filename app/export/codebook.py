"""The codebook, generated from the study itself: tables and columns, arms and policies,
randomization and the process model. As JSON and as readable Markdown."""

import json
from typing import Any

from app.export.tables import CSV_TEXT_NOTE, TABLES, StudyContext, output_columns
from app.rules.process import POLES
from app.studies.randomization import ArmWeight, default_block_size
from app.vocabulary import Policy

POLICY_MEANINGS = {
    Policy.tailored: "Skill chosen for the most active process found in the check-in",
    Policy.random: "Skill chosen at random from the library, from the recorded seed",
    Policy.assessment_only: "Check-ins only; no skill is offered",
}


def codebook(ctx: StudyContext, relative: bool) -> dict[str, Any]:
    study = ctx.study
    weights = [ArmWeight(arm.key, arm.weight) for arm in ctx.arms]
    return {
        "study": {
            "id": str(study.id),
            "name": study.name,
            "status": str(study.status),
            "default_timezone": study.default_timezone,
        },
        "dates": (
            "relative: timestamps are replaced by study day and local time of day"
            if relative
            else "absolute: timestamps are UTC instants (RFC 3339)"
        ),
        "csv_text": CSV_TEXT_NOTE,
        "randomization": {
            "method": "permuted blocks, stratified; each block a Fisher-Yates shuffle driven "
            "by sha256(seed, stratum, block_no), as app/studies/randomization.py spells out",
            "seed": study.randomization_seed,
            "block_size": study.block_size or (default_block_size(weights) if weights else None),
            "stratify_by": list(study.stratify_by),
        },
        "arms": [
            {
                "key": arm.key,
                "policy": str(arm.policy),
                "policy_meaning": POLICY_MEANINGS[Policy(arm.policy)],
                "weight": arm.weight,
                "description": arm.description,
            }
            for arm in ctx.arms
        ],
        "versions": ctx.versions,
        "process_poles": [
            {"dimension": str(dimension), "inflexible": str(inflexible), "flexible": str(flexible)}
            for dimension, (inflexible, flexible) in POLES.items()
        ],
        "tables": [
            {
                "name": spec.name,
                "meaning": spec.meaning,
                "columns": [
                    {
                        "name": column.name,
                        "type": str(column.type),
                        "unit": column.unit,
                        "values": [str(value) for value in column.values] or None,
                        "labels": column.labels or None,
                        "meaning": column.meaning,
                    }
                    for column in output_columns(spec, ctx, relative)
                ],
            }
            for spec in TABLES.values()
        ],
    }


def json_text(book: dict[str, Any]) -> str:
    return json.dumps(book, indent=2, ensure_ascii=False) + "\n"


def _listed(values: list[Any] | None) -> str:
    return ", ".join(str(value) for value in values or []) or "none"


def _labels(labels: dict[str, str] | None) -> str:
    return "; ".join(f"{value} = {label}" for value, label in (labels or {}).items())


def _cell(text: object) -> str:
    return "" if text is None else str(text).replace("|", "\\|").replace("\n", " ")


def _library_lines(lib: dict[str, Any]) -> list[str]:
    """A library version and its skills as selection sees them (targets; modalities)."""
    heading = (
        f"- Skill library {lib['name']} v{lib['version']}"
        + (" (published)" if lib["published"] else " (draft)")
        + (" — pinned" if lib["pinned"] else "")
    )
    return [heading] + [
        f"  - `{skill['key']}`: targets {_listed(skill['targets'])}; "
        f"modalities {_listed(skill['modalities'])}"
        for skill in lib["skills"]
    ]


def markdown(book: dict[str, Any]) -> str:
    study, randomization = book["study"], book["randomization"]
    lines = [
        f"# Codebook: {study['name']}",
        "",
        f"Study `{study['id']}` ({study['status']}), default time zone "
        f"{study['default_timezone']}. Dates are {book['dates']}.",
        "",
        f"{book['csv_text']}.",
        "",
        "## Randomization",
        "",
        f"- Method: {randomization['method']}",
        f"- Seed: `{randomization['seed']}`",
        f"- Block size: {randomization['block_size']}",
        f"- Stratified by: {', '.join(randomization['stratify_by']) or 'nothing'}",
        "",
        "## Arms",
        "",
        "| key | policy | weight | meaning | description |",
        "|---|---|---|---|---|",
        *(
            f"| {arm['key']} | {arm['policy']} | {arm['weight']} | {arm['policy_meaning']} | "
            f"{_cell(arm['description'])} |"
            for arm in book["arms"]
        ),
        "",
        "## Versions in use",
        "",
        f"- Questionnaire versions: {_listed(book['versions'].get('questionnaires'))}",
        f"- Rule-set versions: {_listed(book['versions'].get('rule_sets'))}",
        *(
            line
            for lib in book["versions"].get("skill_libraries", [])
            for line in _library_lines(lib)
        ),
        "",
        "## Process poles",
        "",
        "| dimension | inflexible pole | flexible pole |",
        "|---|---|---|",
        *(
            f"| {pole['dimension']} | `{pole['inflexible']}` | `{pole['flexible']}` |"
            for pole in book["process_poles"]
        ),
    ]
    for table in book["tables"]:
        lines += [
            "",
            f"## Table `{table['name']}`",
            "",
            table["meaning"],
            "",
            "| column | type | unit or range | values | labels | meaning |",
            "|---|---|---|---|---|---|",
            *(
                f"| `{column['name']}` | {column['type']} | {_cell(column['unit'])} | "
                f"{_cell(', '.join(column['values'] or []))} | "
                f"{_cell(_labels(column['labels']))} | {_cell(column['meaning'])} |"
                for column in table["columns"]
            ),
        ]
    return "\n".join(lines) + "\n"
