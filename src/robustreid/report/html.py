"""A training run on one static page: summary, metrics per epoch, pictures and the config.

The page is a single self-contained file: pictures are embedded as base64 data
URIs, there is no script and nothing to fetch (its Content-Security-Policy forbids
any network access), so it opens offline and can be attached to an issue or a mail.
Every text that comes from the run (paths, config, metric names) is escaped with
:func:`html.escape`.
"""

from __future__ import annotations

import base64
import json
import os
from html import escape
from pathlib import Path
from typing import Any

from robustreid.engine.run_dir import RunDir
from robustreid.errors import DataError
from robustreid.report.run_inputs import CLUSTERS_PNG, RANKS_PNG, REPORT_HTML, TSNE_PNG
from robustreid.viz.curves import plot_learning_curve

#: The pictures a run folder may hold, in page order: (file, heading, how to draw it when missing).
PICTURES = (
    (RunDir.LEARNING_CURVE, "Learning curve", "robustreid viz curves RUN_DIR"),
    (RunDir.RANKED_RESULTS, "Ranked results at the last evaluation", "written by robustreid train"),
    (RANKS_PNG, "Ranked lists", "robustreid viz ranks --run RUN_DIR [--sort-by-ap]"),
    (CLUSTERS_PNG, "Pseudo-label clusters", "robustreid viz clusters RUN_DIR"),
    (TSNE_PNG, "t-SNE of the features", "robustreid viz tsne --run RUN_DIR"),
)

STYLE = """
body { font-family: sans-serif; max-width: 1280px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; }
th { background: #f3f3f3; }
td:first-child, th:first-child { text-align: left; }
.scroll { overflow-x: auto; }
img { max-width: 100%; border: 1px solid #ddd; }
pre { background: #f7f7f7; padding: 1em; overflow-x: auto; }
.missing { color: #777; }
"""

# No network, no script: pictures are data URIs and the style is inline.
CONTENT_SECURITY_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def write_report(run_dir: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Write the run's report (default ``RUN_DIR/report.html``); draws the learning curve if it is missing."""
    run = RunDir(run_dir)
    if not run.path.is_dir():
        raise DataError(f"no run folder at {run.path}; give the output_dir of `robustreid train`")
    records = run.read_metrics()
    if records and not (run / RunDir.LEARNING_CURVE).is_file():
        plot_learning_curve(records, run / RunDir.LEARNING_CURVE, title=str(run.path))
    body = [
        f"<h1>robustreid run <code>{escape(str(run.path))}</code></h1>",
        _key_values("Summary", run.read_json(RunDir.SUMMARY)),
        _key_values("Before training", run.read_json(RunDir.INITIAL_METRICS)),
        _metrics_table(records),
        *(_picture(run / name, heading, how) for name, heading, how in PICTURES),
        _config(run / RunDir.CONFIG),
    ]
    page = (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{CONTENT_SECURITY_POLICY}\">"
        f"<title>robustreid run {escape(run.path.name)}</title><style>{STYLE}</style></head>\n<body>\n"
        + "\n".join(part for part in body if part)
        + "\n</body></html>\n"
    )
    out = Path(out) if out is not None else run / REPORT_HTML
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return escape(value if isinstance(value, str) else json.dumps(value))


def _key_values(heading: str, values: dict[str, Any] | None) -> str:
    if not values:
        return ""
    rows = "".join(f"<tr><td>{escape(str(k))}</td><td>{_cell(v)}</td></tr>" for k, v in values.items())
    return f"<h2>{escape(heading)}</h2><table>{rows}</table>"


def _metrics_table(records: list[dict[str, Any]]) -> str:
    """One row per epoch; the columns are every key any epoch logged, in the order they first appear."""
    if not records:
        return "<h2>Metrics per epoch</h2><p class='missing'>no metrics.jsonl yet</p>"
    columns = list(dict.fromkeys(key for record in records for key in record))
    header = "".join(f"<th>{escape(c)}</th>" for c in columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{_cell(r[c]) if c in r else ''}</td>" for c in columns) + "</tr>"
        for r in records
    )
    return f"<h2>Metrics per epoch</h2><div class='scroll'><table><tr>{header}</tr>{rows}</table></div>"


def _picture(path: Path, heading: str, how: str) -> str:
    if not path.is_file():
        return (
            f"<h2>{escape(heading)}</h2><p class='missing'>{escape(path.name)} not drawn yet: "
            f"<code>{escape(how)}</code></p>"
        )
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f"<h2>{escape(heading)}</h2><figure><img src='data:image/png;base64,{data}' alt='{escape(path.name)}'>"
        f"<figcaption>{escape(path.name)}</figcaption></figure>"
    )


def _config(path: Path) -> str:
    if not path.is_file():
        return ""
    return f"<h2>Config</h2><pre>{escape(path.read_text())}</pre>"
