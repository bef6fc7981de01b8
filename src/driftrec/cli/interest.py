"""``driftrec interest embed|profile|segments``: the text layer and interest state by hand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from driftrec.cli.common import fail
from driftrec.data.errors import DataError

interest_app = typer.Typer(help="Item embeddings, user interest profiles and segments.",
                           no_args_is_help=True)

ENCODER_HELP = "minilm (default), use-multilingual, or a sentence-transformers model folder"


def _load(target: str, items: Path | None):
    from driftrec.cli.data import load_any

    try:
        return load_any(target, items)
    except DataError as exc:
        raise fail(str(exc)) from None


def _embed(dataset, encoder, template: str | None, cache_dir: Path | None) -> np.ndarray:
    from driftrec.recommend.encoding import load_encoder
    from driftrec.text import MissingModelError
    from driftrec.text.catalogue import embed_items

    try:
        if isinstance(encoder, str):
            encoder = load_encoder(encoder)  # the service's names, ``hashing`` included
        return embed_items(dataset, encoder, template, cache_dir)
    except (MissingModelError, ValueError) as exc:
        raise fail(str(exc)) from None


@interest_app.command("embed")
def embed(
    target: str = typer.Argument(..., help="ml-1m, ml-100k, or an events file"),
    items: Path | None = typer.Option(None, help="Items file for an events file."),
    encoder: str = typer.Option("minilm", help=ENCODER_HELP + ", or hashing"),
    template: str | None = typer.Option(None, help='Item text, e.g. "{title}. {genres}"'),
    cache_dir: Path | None = typer.Option(None, help="Embedding cache folder "
                                          "(default $DRIFTREC_EMBEDDING_CACHE or "
                                          "~/.cache/driftrec/embeddings)"),
    ray: str | None = typer.Option(None, "--ray", help="Encode on Ray: auto (this machine's "
                                   "cluster, else a local one), local, or a cluster address "
                                   "(ray://host:10001); default: in this process"),
    ray_workers: int = typer.Option(2, min=1, help="Encoder actors on Ray (one CPU each)."),
) -> None:
    """Encode the item catalogue into the embedding cache (later runs are instant)."""
    dataset = _load(target, items)
    if ray is not None:
        from driftrec.text.distributed import RayEncoder

        try:
            ray_encoder = RayEncoder(encoder, address=ray, workers=ray_workers)
        except (ImportError, ValueError, FileNotFoundError) as exc:
            raise fail(str(exc)) from None
        vecs = _embed(dataset, ray_encoder, template, cache_dir)
        Console().print(f"{len(vecs)} items embedded with {encoder} on Ray ({ray}, "
                        f"{ray_workers} workers, {vecs.shape[1]} dimensions)")
        return
    vecs = _embed(dataset, encoder, template, cache_dir)
    Console().print(f"{len(vecs)} items embedded with {encoder} ({vecs.shape[1]} dimensions)")


def _states(dataset, vecs: np.ndarray, users: list[str] | None = None):
    from driftrec.data.schema import USER_ID
    from driftrec.interest.build import build_states
    from driftrec.interest.profiles import ItemLabeler

    events = dataset.events
    if users is not None:
        events = events[events[USER_ID].isin(set(users))]
    return build_states(events, vecs, list(dataset.item_ids), labeler=ItemLabeler(dataset.items))


@interest_app.command("profile")
def profile(
    target: str = typer.Argument(..., help="ml-1m, ml-100k, or an events file"),
    user_id: str = typer.Argument(..., help="The user to describe"),
    items: Path | None = typer.Option(None, help="Items file for an events file."),
    encoder: str = typer.Option("minilm", help=ENCODER_HELP),
    cache_dir: Path | None = typer.Option(None, help="Embedding cache folder."),
) -> None:
    """A user's interest profile as JSON: long vs short term, clusters, drift."""
    from driftrec.interest.profiles import Profiler

    dataset = _load(target, items)
    vecs = _embed(dataset, encoder, None, cache_dir)
    states = _states(dataset, vecs, [user_id])
    if user_id not in states:
        raise fail(f"user {user_id!r} has no events in {target}")
    typer.echo(json.dumps(Profiler(dataset.items, vecs).user(states[user_id]), indent=2))


@interest_app.command("segments")
def segments(
    target: str = typer.Argument(..., help="ml-1m, ml-100k, or an events file"),
    items: Path | None = typer.Option(None, help="Items file for an events file."),
    encoder: str = typer.Option("minilm", help=ENCODER_HELP),
    seed: int = typer.Option(0, help="Seed of k-means, bootstrap samples and silhouette."),
    k: str = typer.Option("2,3,4,5,6,7,8,9,10,11,12", help="Segment counts to try."),
    dims: int = typer.Option(8, help="Principal directions of the segment space "
                                     "(0: the unit interest vectors themselves)."),
    output: Path | None = typer.Option(None, help="Write the segment profiles as JSON here."),
    cache_dir: Path | None = typer.Option(None, help="Embedding cache folder."),
) -> None:
    """Segment users by long-term interest; k is the best silhouette among stable k
    (bootstrap ARI >= 0.8); profiles say what distinguishes each segment."""
    from driftrec.interest.profiles import Profiler
    from driftrec.interest.segments import segment_users

    try:
        ks = [int(x) for x in k.split(",") if x.strip()]
    except ValueError:
        raise fail(f"--k must be comma-separated integers, got {k!r}") from None
    dataset = _load(target, items)
    vecs = _embed(dataset, encoder, None, cache_dir)
    from driftrec.data.dataset import Histories
    from driftrec.interest.build import history_interest

    users = np.arange(dataset.n_users)
    im = history_interest(Histories.from_events(dataset.events, users), vecs)
    interest = im.long_term
    drift = 1.0 - np.sum(interest * im.short_term, axis=1)
    try:
        seg = segment_users(list(dataset.user_ids), interest, k_values=ks, seed=seed,
                            dims=dims or None)
    except ValueError as exc:
        raise fail(str(exc)) from None
    item_ids = np.asarray(dataset.item_ids).astype(str)
    member_items: list[list[str]] = [[] for _ in users]
    ordered = dataset.events.sort_values(["user_idx", "timestamp"], kind="stable")
    for u, rows in ordered.groupby("user_idx", sort=True)["item_idx"]:
        member_items[int(u)] = item_ids[rows.to_numpy()].tolist()
    result = Profiler(dataset.items, vecs, seg, member_items=member_items,
                      drift=drift).segments()
    table = Table(title=f"{seg.k} segments (silhouette {seg.silhouette:.3f})")
    for col in ("segment", "label", "users", "share", "title words", "exemplars"):
        table.add_column(col)
    for s in result["segments"]:
        table.add_row(str(s["segment"]), s["label"], str(s["users"]), f"{s['share']:.1%}",
                      ", ".join(w["term"] for w in s.get("title_words", [])[:3]),
                      "; ".join(e["title"] for e in s.get("exemplars", [])[:3]))
    Console().print(table)
    Console().print("k criteria: " + "; ".join(
        f"{kk}: " + ", ".join(f"{n} {v:.3f}" for n, v in c.items())
        for kk, c in result["criteria"].items()))
    if output is not None:
        output.write_text(json.dumps(result, indent=2))
        Console().print(f"segment profiles written to {output}")


def register(app: typer.Typer) -> None:
    app.add_typer(interest_app, name="interest")
