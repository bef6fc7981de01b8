"""Results tables: rich for the terminal, Markdown and JSON for files."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console
from rich.table import Table

#: Columns shown by default; every metric is still written to JSON.
HEADLINE = ("HR@{k}", "NDCG@{k}", "MRR@{k}")
RESOURCE_COLUMNS = ("fit_s", "eval_s", "peak_rss_mb")


def headline_columns(ks: tuple[int, ...]) -> list[str]:
    return [pattern.format(k=k) for k in ks for pattern in HEADLINE]


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)


def rich_table(rows: list[dict], columns: list[str], title: str) -> Table:
    table = Table(title=title)
    for col in columns:
        table.add_column(col, justify="left" if col in ("model", "protocol", "subset")
                         else "right")
    for row in rows:
        table.add_row(*(_fmt(row.get(c, "")) for c in columns))
    return table


def markdown_table(rows: list[dict], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def code_version() -> str | None:
    """The git commit of the driftrec package that ran, with ``+dirty`` when its files
    differ from that commit; None outside a git checkout (an installed wheel). Written into
    every results file, so that a before/after pair says which code made each half."""
    package = str(Path(__file__).resolve().parents[1])
    try:
        head = subprocess.run(["git", "-C", package, "rev-parse", "--short=7", "HEAD"],
                              capture_output=True, text=True, timeout=10, check=True)
        diff = subprocess.run(["git", "-C", package, "diff", "--quiet", "HEAD", "--", "."],
                              capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if diff.returncode else "")


def cpu_model() -> str:
    """The processor's model name as the kernel reports it: figures from different
    processors are not comparable, even with the same number of cores."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def write_results(rows: list[dict], columns: list[str], out_dir: str | Path, stem: str,
                  *, title: str, protocol: dict) -> tuple[Path, Path]:
    """Write ``stem.json`` (every number plus the protocol) and ``stem.md``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "title": title,
        "protocol": protocol,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "code": code_version(),
        "machine": {"python": platform.python_version(), "processor": platform.machine(),
                    "cpus": os.cpu_count(), "cpu_model": cpu_model()},
    }
    json_path = out / f"{stem}.json"
    json_path.write_text(json.dumps({**meta, "rows": rows}, indent=2, default=str))
    md = [f"# {title}", "", "Protocol: " + ", ".join(f"{k}={v}" for k, v in protocol.items()),
          "", markdown_table(rows, columns), "",
          f"_Written {meta['created']}" + (f" by driftrec at {meta['code']}" if meta["code"]
                                            else "") + "._", ""]
    md_path = out / f"{stem}.md"
    md_path.write_text("\n".join(md))
    return json_path, md_path


def print_table(rows: list[dict], columns: list[str], title: str,
                console: Console | None = None) -> None:
    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=max(console.width, 200))  # logs and pipes: no wrapping
    console.print(rich_table(rows, columns, title))
