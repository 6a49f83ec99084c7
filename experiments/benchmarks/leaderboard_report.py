"""The leaderboard's table (Markdown for BENCHMARKS.md) and its FID-against-NLL figure.

python -m experiments.benchmarks.leaderboard_report --json=experiments/benchmarks/results/leaderboard.json
"""

from __future__ import annotations

import json
from pathlib import Path

from absl import app


def _with_interval(entry: dict | None, digits: int = 2, scale: float = 1.0) -> str:
    if not entry or "value" not in entry:
        return "—"
    value = entry["value"] * scale
    if "lower" in entry:
        return (
            f"{value:.{digits}f} [{entry['lower'] * scale:.{digits}f}, {entry['upper'] * scale:.{digits}f}]"
        )
    return f"{value:.{digits}f} ± {entry['std'] * scale:.{digits}f}"


def markdown_table(rows: list[dict]) -> str:
    """One row per model (the real-data floor first); each metric with its 95% interval."""
    header = (
        "| model | test bits/dim | FID | KID | IS | precision | recall | density | coverage "
        "| NDB (of bins) | C2ST acc. | NN dist. / real | support (birthday) |"
    )
    lines = [header, "|" + "---|" * 14]
    for row in rows:
        bpd = row.get("test_bits_per_dim")
        ndb = row.get("ndb", {})
        birthday = row.get("birthday", {})
        support = birthday.get("support_size")
        support = "—" if support is None else ("> 10⁶" if support > 1e6 else f"{support:,.0f}")
        lines.append(
            "| "
            + " | ".join(
                [
                    row["run"],
                    "—" if bpd is None else f"{bpd:.3f}",
                    _with_interval(row.get("fid")),
                    _with_interval(row.get("kid"), 1),
                    _with_interval(row.get("is")),
                    _with_interval(row.get("precision")),
                    _with_interval(row.get("recall")),
                    _with_interval(row.get("density")),
                    _with_interval(row.get("coverage")),
                    f"{ndb.get('value', '—')} / {ndb.get('num_bins', '—')}",
                    _with_interval(row.get("c2st")),
                    f"{row['nn']['ratio_to_reference']:.2f}" if "nn" in row else "—",
                    support,
                ]
            )
            + " |"
        )
    return "\n".join(lines)


def save_figure(path: str, rows: list[dict]) -> None:
    """FID (with its interval) against test bits/dim for every model that has both; the floor as a line."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4.5), dpi=110)
    axes = figure.add_subplot()
    for row in rows:
        if row.get("test_bits_per_dim") is None or "fid" not in row:
            continue
        fid = row["fid"]
        axes.errorbar(
            row["test_bits_per_dim"],
            fid["value"],
            yerr=[[fid["value"] - fid["lower"]], [fid["upper"] - fid["value"]]],
            fmt="o",
            capsize=3,
        )
        axes.annotate(
            row["run"],
            (row["test_bits_per_dim"], fid["value"]),
            fontsize=7,
            xytext=(4, 3),
            textcoords="offset points",
        )
    floor = rows[0].get("fid", {}).get("value")
    if floor is not None:
        axes.axhline(floor, color="grey", linestyle="--", linewidth=1, label="real (train vs test)")
        axes.legend(fontsize=8)
    axes.set_xlabel("test NLL (bits/dim, 17-level digits; bounds for VAE and DDPM)")
    axes.set_ylabel("FID (digits CNN features)")
    axes.set_yscale("log")
    axes.set_title("Digits: sample quality against likelihood", fontsize=10)
    figure.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")


def main(argv):
    if len(argv) != 2:
        raise SystemExit("usage: python -m experiments.benchmarks.leaderboard_report RESULTS.json")
    print(markdown_table(json.loads(Path(argv[1]).read_text())["rows"]))


if __name__ == "__main__":
    app.run(main)
