"""A simulated power curve: the share of bare trials (app/simulate/bare.py) whose WCLS test
finds the effect, by the number of participants, drawn as a picture with matplotlib."""

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from app.mrt.design import MrtDesign
from app.mrt.wcls import MrtDataError, wcls
from app.simulate.bare import bare_trial
from app.simulate.person import PersonModel


class PowerPoint(BaseModel):
    participants: int
    power: float
    coverage: float
    replicates: int


def power_curve(
    people: PersonModel,
    sizes: Sequence[int],
    days: int,
    prompts_per_day: int,
    design: MrtDesign,
    replicates: int,
    seed: int,
    alpha: float = 0.05,
    progress: Callable[[int], None] | None = None,
) -> list[PowerPoint]:
    curve = []
    for size in sizes:
        found = covered = 0
        for k in range(replicates):
            trial = bare_trial(people, size, days, prompts_per_day, design, seed + k)
            if progress:
                progress(1)
            try:
                effect = wcls(trial.data).effects[0]
            except (MrtDataError, np.linalg.LinAlgError):  # cannot be fitted: not found
                continue
            found += effect.p_value < alpha
            covered += effect.ci_low <= trial.truth <= effect.ci_high
        curve.append(
            PowerPoint(
                participants=size,
                power=found / replicates,
                coverage=covered / replicates,
                replicates=replicates,
            )
        )
    return curve


def draw_power_curve(curve: Sequence[PowerPoint], title: str, out: Path) -> None:
    """The curve as PNG or SVG (by the file's suffix)."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(6, 4), dpi=120)
    sizes = [point.participants for point in curve]
    axes.plot(sizes, [point.power for point in curve], marker="o", label="power (p < 0.05)")
    axes.plot(
        sizes,
        [point.coverage for point in curve],
        marker="s",
        linestyle="--",
        label="95% CI coverage",
    )
    axes.axhline(0.8, color="grey", linewidth=0.8, linestyle=":")
    axes.set_ylim(0, 1.02)
    axes.set_xlabel("participants")
    axes.set_ylabel(f"share of {curve[0].replicates} simulated trials" if curve else "share")
    axes.set_title(title, fontsize=10)
    axes.legend(loc="lower right")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    # No timestamps in the file: the same curve gives the same bytes.
    figure.savefig(out, metadata={"Date": None} if out.suffix == ".svg" else {"Software": None})
    pyplot.close(figure)
