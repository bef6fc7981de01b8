"""The results page, ``benchmarks/results/README.md``, built from the results files alone.

Every ``benchmarks/results/**/*.json`` written by a ``benchmarks/bench_*.py`` script gets a
section, grouped by topic: its title, the command that produced it, the protocol and
parameters it records, and its table rendered from the JSON rows. A figure appears on the
page only if a benchmark wrote it; interpretation stays in ``docs/results.md``.

    .venv/bin/python benchmarks/report.py [--results benchmarks/results] [--out FILE]

``make results`` runs it.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import re
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
PAGE = "README.md"

#: (topic, stem patterns), in page order; the first match wins, the rest go to "Other".
TOPICS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Quick start (make run)", ("quickstart-*",)),
    ("Baselines", ("baselines-*",)),
    ("New users (cold-user protocol)", ("ml-*-cold-user",)),
    ("Streaming (driftrec evaluate)", ("ml-*-streaming",)),
    ("Sequence and fused models", ("sequence-*", "sasrec-*")),
    ("Fused model: cold users, cold items, streaming", ("fused-*",)),
    ("Content model and interest state", ("content-*",)),
    ("User segments", ("segments-*",)),
    ("Served pipeline against the offline model", ("served-*",)),
    ("Service speed", ("service-*", "import-*", "interest-latency-*", "text-encoding-*")),
    ("Training speed", ("training-threads-*",)),
    ("Feedback loop", ("feedback-*",)),
    ("Fault drills", ("faults-*",)),
    ("Dashboard", ("dashboard-*",)),
    ("Scaling: approximate retrieval, Ray, synthetic data",
     ("ann-*", "ray-*", "scaling-*", "scale-serving-*", "text-retrieval-*")),
)

#: Commands of results files written before the scripts recorded ``command``, as quoted in
#: docs/results.md (``sasrec-lr2e-3``: the README at commit 30e512e). Files that record a
#: command never use this; drop an entry once its file is regenerated.
QUOTED_COMMANDS: dict[str, list[str]] = {
    "baselines-ml-100k": ["benchmarks/bench_baselines.py"],
    "baselines-ml-1m": ["benchmarks/bench_baselines.py"],
    "content-cold-item-ml-1m": ["benchmarks/bench_content.py"],
    "content-cold-user-ml-1m": ["benchmarks/bench_content.py"],
    "content-loo-ml-1m": ["benchmarks/bench_content.py"],
    "content-streaming-ml-1m": ["benchmarks/bench_content.py"],
    "dashboard-ml-1m": ["benchmarks/bench_dashboard.py --screenshots docs/screenshots"],
    "faults-postgresql": [
        "benchmarks/bench_faults.py --db postgresql+psycopg://postgres@127.0.0.1:5432/test"
        " --kills 2 --soak-seconds 30"],
    "faults-sqlite": ["benchmarks/bench_faults.py --kills 5 --soak-seconds 600"],
    "feedback-cost-ml-1m": ["benchmarks/bench_feedback_cost.py --model-dir MODEL_DIR"],
    "feedback-ml-1m": [
        "benchmarks/bench_feedback.py --dataset ml-1m"
        " --config benchmarks/configs/served-ml-1m.toml --events 3000"],
    "fused-cold-item-ml-100k": ["benchmarks/bench_fused_protocols.py --dataset ml-100k"],
    "fused-cold-item-ml-100k-id-dropout": [
        "benchmarks/bench_fused_protocols.py --dataset ml-100k --protocols cold-item"
        " --tag id-dropout --config benchmarks/configs/fused-id-dropout.toml"],
    "fused-cold-item-ml-1m": [
        "benchmarks/bench_fused_protocols.py --dataset ml-1m"
        " --config benchmarks/configs/fused-protocols-ml-1m.toml"],
    "fused-cold-item-ml-1m-id-dropout": [
        "benchmarks/bench_fused_protocols.py --dataset ml-1m --protocols cold-item"
        " --tag id-dropout --config benchmarks/configs/fused-protocols-ml-1m-id-dropout.toml"],
    "fused-cold-user-ml-100k": ["benchmarks/bench_fused_protocols.py --dataset ml-100k"],
    "fused-cold-user-ml-1m": [
        "benchmarks/bench_fused_protocols.py --dataset ml-1m"
        " --config benchmarks/configs/fused-protocols-ml-1m.toml"],
    "fused-streaming-ml-100k": ["benchmarks/bench_fused_protocols.py --dataset ml-100k"],
    "fused-streaming-ml-1m": [
        "benchmarks/bench_fused_protocols.py --dataset ml-1m"
        " --config benchmarks/configs/fused-protocols-ml-1m.toml"],
    "import-ml-1m": ["benchmarks/bench_import.py"],
    "interest-latency-ml-1m": ["benchmarks/bench_interest.py"],
    "sasrec-lr2e-3/ml-1m-loo": [
        "driftrec evaluate --dataset ml-1m --protocol loo --models sasrec"
        " --config benchmarks/configs/sasrec-lr2e-3.toml --out benchmarks/results/sasrec-lr2e-3"],
    "sequence-ml-100k": ["benchmarks/bench_sequence.py --datasets ml-100k --models fused,sasrec"],
    "sequence-ml-1m": [
        "benchmarks/bench_sequence.py --datasets ml-1m --models fused --keep --tag deep"
        " --config benchmarks/configs/fused-deep.toml",
        "benchmarks/bench_sequence.py --datasets ml-1m --models fused --keep",
        *(f"benchmarks/bench_sequence.py --datasets ml-1m --models fused --keep --tag {tag}"
          f" --config benchmarks/configs/fused-{tag}.toml"
          for tag in ("id-sequence", "text-sequence", "random-window", "ensemble",
                      "dropout-0.3")),
        "benchmarks/bench_sequence.py --datasets ml-1m --models pop,itemknn,ease,content --keep",
    ],
    "service-ml-1m": ["benchmarks/bench_service.py --model-dir MODEL_DIR"],
    "service-ml-1m-2-processes": [
        "benchmarks/bench_service.py --model-dir MODEL_DIR --workers 2 --tag 2-processes"],
    "service-ml-1m-postgresql": [
        "benchmarks/bench_service.py --model-dir MODEL_DIR --workers 2"
        " --db postgresql+psycopg://postgres@127.0.0.1:5432/bench (a fresh database)"],
    "text-encoding-ml-1m": ["benchmarks/bench_text.py"],
    "training-threads-ml-1m": ["benchmarks/bench_training_threads.py"],
}

#: Ranking metrics shown in tables; the others (Recall, Precision, F1, Coverage, Novelty)
#: stay in the JSON file.
_METRIC = re.compile(r"^(?P<name>[A-Za-z0-9]+)@\d+")
_SHOWN_METRICS = {"HR", "NDCG", "MRR"}
_PARAMETERS_OPEN = 15  # more flattened parameters than this go in a collapsed block


def topic_of(stem: str) -> str:
    head = stem.split("/")[0]  # a subfolder of results is named after its run
    for topic, patterns in TOPICS:
        if any(fnmatch.fnmatch(head, p) for p in patterns):
            return topic
    return "Other"


def fmt(value: Any) -> str:
    """One table cell: floats as the benchmark scripts print them, dicts as ``k: v``."""
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = str(value)
    elif isinstance(value, float):
        text = f"{value:.4f}" if abs(value) < 10 else f"{value:,.1f}"
    elif isinstance(value, dict):
        text = ", ".join(f"{k}: {fmt(v)}" for k, v in value.items())
    elif isinstance(value, list):
        text = ", ".join(fmt(v) for v in value)
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def fmt_parameter(value: Any) -> str:
    """A protocol value as the benchmark recorded it (no rounding)."""
    if value is None or value == {} or value == "":
        return "(none)"
    if isinstance(value, list):
        return ", ".join(fmt_parameter(v) for v in value)
    if isinstance(value, (dict, float, bool)):
        return json.dumps(value) if not isinstance(value, float) else repr(value)
    return str(value).replace("\n", " ")


def table_columns(rows: list[dict]) -> tuple[list[str], list[str]]:
    """Columns to show (first-seen order) and those left to the JSON file."""
    seen: list[str] = []
    for row in rows:
        seen += [c for c in row if c not in seen]
    metric_table = any(_METRIC.match(c) for c in seen)
    shown, hidden = [], []
    for col in seen:
        match = _METRIC.match(col)
        nested = any(isinstance(r.get(col), dict) for r in rows)
        if metric_table and ((match and match["name"] not in _SHOWN_METRICS) or nested):
            hidden.append(col)
        else:
            shown.append(col)
    return shown, hidden


def markdown_table(rows: list[dict], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def flatten(mapping: dict, prefix: str = "") -> list[tuple[str, Any]]:
    items: list[tuple[str, Any]] = []
    for key, value in mapping.items():
        if isinstance(value, dict) and value:
            items += flatten(value, f"{prefix}{key}.")
        else:
            items.append((f"{prefix}{key}", value))
    return items


def shell_line(command: str) -> str:
    """A recorded command as one would type it: Python scripts run by the project's venv."""
    words = command.split()
    for i, word in enumerate(words):
        if word.endswith(".py"):
            if i == 0 or "python" not in words[i - 1]:
                words.insert(i, ".venv/bin/python")
            break
    return " ".join(words)


def commands_of(stem: str, protocol: dict) -> tuple[list[str], str]:
    """The commands that wrote a file, and where they come from."""
    recorded = [protocol["command"]] if protocol.get("command") else []
    runs = protocol.get("runs")
    if isinstance(runs, dict):  # bench_sequence.py: one entry per tagged run
        recorded += [r["command"] for r in runs.values()
                     if isinstance(r, dict) and r.get("command")]
    if recorded:
        return recorded, "recorded in the file"
    if stem in QUOTED_COMMANDS:
        return QUOTED_COMMANDS[stem], ("as quoted in the docs; the file predates recorded "
                                       "commands")
    return [], "not recorded"


def section(path: Path, results: Path) -> str:
    data = json.loads(path.read_text(encoding="utf-8"))
    stem = path.relative_to(results).with_suffix("").as_posix()
    protocol = data.get("protocol") or {}
    rows = data.get("rows") or []
    title = data.get("title") or stem
    twin = path.with_suffix(".md")
    links = f"[`{stem}.json`]({stem}.json)" + (f", [`{stem}.md`]({stem}.md)"
                                                if twin.exists() else "")
    machine = data.get("machine") or {}
    written = ", ".join(x for x in (
        f"written {data['created']}" if data.get("created") else "",
        f"driftrec at {data['code']}" if data.get("code") else "",
        "Python {python}, {processor}, {cpus} CPUs".format(**machine)
        if {"python", "processor", "cpus"} <= machine.keys() else "",
        machine.get("cpu_model", "")) if x)
    out = [f"### {title} (`{stem}`)", "", f"{links}" + (f"; {written}." if written else "."), ""]

    commands, source = commands_of(stem, protocol)
    if commands:
        out += [f"Command ({source}):", "", "```bash",
                *(shell_line(c) for c in commands), "```", ""]
    else:
        out += ["Command: not recorded.", ""]

    params = [(k, v) for k, v in flatten(protocol)
              if k != "command" and not (k.startswith("runs.") and k.endswith(".command"))]
    if params:
        bullets = [f"- {k}: {fmt_parameter(v)}" for k, v in params]
        if len(bullets) > _PARAMETERS_OPEN:
            out += ["<details><summary>Protocol and parameters "
                    f"({len(bullets)})</summary>", "", *bullets, "", "</details>", ""]
        else:
            out += ["Protocol and parameters:", "", *bullets, ""]

    if rows:
        shown, hidden = table_columns(rows)
        out += [markdown_table(rows, shown), ""]
        if hidden:
            out += ["Also in the JSON file: " + ", ".join(f"`{c}`" for c in hidden) + ".", ""]
    else:
        out += ["No rows.", ""]
    return "\n".join(out)


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.lower())
    return text.replace(" ", "-")


def build(results: Path) -> str:
    files = sorted(p for p in results.rglob("*.json") if p.is_file())
    by_topic: dict[str, list[Path]] = {}
    for path in files:
        stem = path.relative_to(results).with_suffix("").as_posix()
        by_topic.setdefault(topic_of(stem), []).append(path)
    order = [t for t, _ in TOPICS if t in by_topic] + (["Other"] if "Other" in by_topic else [])
    out = ["# Benchmark results", "",
           "Generated by `benchmarks/report.py` (`make results`) from the JSON files in this "
           "folder, which the `benchmarks/bench_*.py` scripts write: do not edit by hand. What "
           "the figures mean, and how they compare with published ones, is in "
           "[docs/results.md](../../docs/results.md). Tables show HR, NDCG and MRR; every other "
           "metric is in each JSON file.", "",
           *(f"- [{t}](#{anchor(t)}) ({len(by_topic[t])})" for t in order), ""]
    for topic in order:
        out += [f"## {topic}", ""]
        out += [section(path, results) for path in by_topic[topic]]
    return "\n".join(out).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="folder of results files (searched recursively)")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"page to write (default: RESULTS/{PAGE})")
    args = parser.parse_args(argv)
    out = args.out or args.results / PAGE
    out.write_text(build(args.results), encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
