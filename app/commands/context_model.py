"""The ``flask train`` and ``flask sort`` commands: train on harvested playlists or a CSV, sort a library or a CSV."""

from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager
from pathlib import Path

import click
import pandas as pd

from app.models.cutoffs import DEFAULT_TARGET_PRECISION
from app.models.dataset import (
    DEFAULT_MIN_TRACKS, DatasetError, build_dataset, normalise_context, read_csv,
)
from app.models.features import FeatureError, derive_columns, infer_feature_spec
from app.models.model import ModelInputError
from app.models.persistence import ArtifactError, load_model, save_model
from app.models.service import provider_versions, sort_library, train_from_store
from app.models.store_dataset import user_id_for
from app.models.training import DEFAULT_FOLDS, DEFAULT_TEST_SIZE, train_context_model

#: Id columns looked for when --id-col is not given, in order.
DEFAULT_ID_COLUMNS = ("track_id", "id")
#: Id column of a sorted library: the Spotify id.
LIBRARY_ID = "spotify_id"
#: Source-playlist column used for grouping when --group-col is not given and it exists.
DEFAULT_GROUP_COLUMN = "playlist_id"
#: Artist columns grouped by when there is no playlist column, in order.
ARTIST_COLUMNS = ("artist", "track_artist", "artists", "artist_name")

_precision = click.FloatRange(0, 1, min_open=True, max_open=True)


def _read_csv(path: str, text_columns: tuple[str | None, ...] = ()) -> pd.DataFrame:
    try:
        return read_csv(path, [column for column in text_columns if column])
    except DatasetError as error:
        raise click.UsageError(f"--from-csv: {error}") from None


def _require(frame: pd.DataFrame, option: str, column: str) -> None:
    if column not in frame.columns:
        raise click.UsageError(f"{option}: column '{column}' is not in the CSV "
                               f"(columns: {', '.join(map(str, frame.columns))})")


def _id_column(frame: pd.DataFrame, id_col: str | None) -> str:
    if id_col is not None:
        _require(frame, "--id-col", id_col)
        return id_col
    for name in DEFAULT_ID_COLUMNS:
        if name in frame.columns:
            return name
    raise click.UsageError(
        f"no id column: the CSV has none of {', '.join(DEFAULT_ID_COLUMNS)}; pass --id-col")


def _context_targets(values: tuple[str, ...]) -> dict[str, float]:
    """``("workout=0.9",)`` as ``{"workout": 0.9}``."""
    targets = {}
    for value in values:
        name, _, number = value.rpartition("=")
        try:
            precision = float(number)
        except ValueError:
            precision = -1.0
        if not name or not 0 < precision < 1:
            raise click.BadParameter(f"'{value}' is not CONTEXT=PRECISION with 0 < PRECISION < 1",
                                     param_hint="--context-precision")
        targets[normalise_context(name)] = precision
    return targets


def _emit(payload: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(payload, default=str))


@click.command("train")
@click.option("--contexts", "contexts", multiple=True, metavar="NAME",
              help="Train on the harvested playlists of these contexts (repeatable, or "
                   "comma-separated) instead of a CSV.")
@click.option("--user", "user_name", default=None, metavar="SPOTIFY_USER",
              help="With --contexts: use only features that this user's library has too.")
@click.option("--from-csv", "csv_path", default=None, type=click.Path(dir_okay=False),
              help="CSV with one row per (track, label); repeated ids mean several labels.")
@click.option("--label", default=None, help="Column holding the context of each row (CSV).")
@click.option("--id-col", default=None, help="Track id column [default: track_id, else id].")
@click.option("--group-col", default=None,
              help="Source playlist column to group splits by [default: playlist_id if present].")
@click.option("--features", default=None,
              help="Comma-separated feature columns [default: numeric columns and categories].")
@click.option("--categorical", default=None,
              help="Comma-separated categorical columns [default: genre(s), key, mode, "
                   "time_signature, decade].")
@click.option("--min-tracks", default=DEFAULT_MIN_TRACKS, show_default=True,
              type=click.IntRange(1), help="Drop contexts with fewer tracks.")
@click.option("--target-precision", default=DEFAULT_TARGET_PRECISION, show_default=True,
              type=_precision, help="Precision each context's cutoff should promise.")
@click.option("--context-precision", multiple=True, metavar="CONTEXT=P",
              help="Target precision of one context (repeatable).")
@click.option("--folds", default=DEFAULT_FOLDS, show_default=True, type=click.IntRange(2))
@click.option("--test-size", default=DEFAULT_TEST_SIZE, show_default=True,
              type=click.FloatRange(0, 0.5), help="Share of playlists held out to check promises.")
@click.option("--background", "background_path", default=None, type=click.Path(dir_okay=False),
              help="CSV of tracks that fit none of the contexts (id and feature columns), at most "
                   "as many as the labelled ones. Rows of --from-csv with an empty label count too.")
@click.option("--best-effort", is_flag=True,
              help="Give a context that cannot reach its target a playlist anyway, labelled "
                   "best effort (by default it gets none).")
@click.option("--multi-context", is_flag=True,
              help="Let a track go to every context whose cutoff it passes (by default only its "
                   "most likely one, plus contexts that genuinely co-occur with it).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Model file to write.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (last line).")
def train_command(contexts, user_name, csv_path, label, id_col, group_col, features, categorical,
                  min_tracks, target_precision, context_precision, folds, test_size,
                  background_path, best_effort, multi_context, out, as_json):
    """Train a context model from harvested playlists (--contexts) or a labelled CSV (--from-csv),
    and write it to --out."""
    targets = _context_targets(context_precision)
    settings = dict(min_tracks=min_tracks, target_precision=target_precision,
                    context_targets=targets, n_splits=folds, test_size=test_size,
                    best_effort=best_effort, multi_context=multi_context)
    if bool(contexts) == bool(csv_path):
        raise click.UsageError("give either --contexts (harvested playlists) or --from-csv")
    if contexts:
        csv_only = {"--label": label, "--id-col": id_col, "--group-col": group_col,
                    "--features": features, "--categorical": categorical,
                    "--background": background_path}
        given = [name for name, value in csv_only.items() if value is not None]
        if given:
            raise click.UsageError(f"{', '.join(given)} only apply with --from-csv")
        _train_from_store(_names(contexts), user_name, settings, out, as_json)
        return
    if user_name is not None:
        raise click.UsageError("--user only applies with --contexts")
    if label is None:
        raise click.UsageError("--from-csv needs --label, the column holding each row's context")
    _train_from_csv(csv_path, label, id_col, group_col, features, categorical, settings, out,
                    as_json, background_path)


def _names(values: tuple[str, ...]) -> list[str]:
    """``("workout,edm", "road trip")`` as ``["workout", "edm", "road trip"]``."""
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


@contextmanager
def _store_session():
    """A database session of the app this command runs in (``flask`` or a test runner's app)."""
    from flask import current_app, has_app_context
    from flask.cli import ScriptInfo

    from app.extensions import db

    if has_app_context():
        app = current_app._get_current_object()
    else:
        app = click.get_current_context().ensure_object(ScriptInfo).load_app()
    with app.app_context():
        yield db.session


def _train_from_store(contexts, user_name, settings, out, as_json):
    with _store_session() as session:
        try:
            user_id = user_id_for(session, user_name) if user_name else None
            outcome = train_from_store(session, contexts, user_id=user_id, **settings)
        except DatasetError as error:
            raise click.ClickException(str(error)) from None
    model, dataset = outcome.model, outcome.dataset
    report_dict = outcome.report.to_dict()
    for message in dataset.messages:
        click.echo(message, err=True)
    save_model(model, out, {
        "target_precision": settings["target_precision"],
        "context_targets": settings["context_targets"],
        "providers": {"store": {"contexts": contexts, "user": user_name,
                                "versions": provider_versions(dataset.spec.columns)}},
        "metrics": report_dict,
    })
    if not as_json:
        _print_training(model, report_dict, out)
    _emit({"model": str(out), **report_dict}, as_json)


def _train_from_csv(csv_path, label, id_col, group_col, features, categorical, settings, out,
                    as_json, background_path=None):
    min_tracks, target_precision = settings["min_tracks"], settings["target_precision"]
    targets = settings["context_targets"]
    frame = _read_csv(csv_path, (label, id_col, *DEFAULT_ID_COLUMNS, group_col or DEFAULT_GROUP_COLUMN))
    _require(frame, "--label", label)
    id_col = _id_column(frame, id_col)
    grouping = "playlist"
    if group_col is not None:
        _require(frame, "--group-col", group_col)
    elif DEFAULT_GROUP_COLUMN in frame.columns:
        group_col = DEFAULT_GROUP_COLUMN
    else:
        group_col = next((c for c in ARTIST_COLUMNS if c in frame.columns), None)
        grouping = "artist" if group_col else "track"
    background = None
    if background_path is not None:
        try:
            background = derive_columns(read_csv(background_path, [id_col or "", *DEFAULT_ID_COLUMNS]))
        except DatasetError as error:
            raise click.UsageError(f"--background: {error}") from None
    frame = derive_columns(frame)
    exclude = tuple(c for c in (id_col, label, group_col) if c)
    try:
        spec, messages = infer_feature_spec(frame, exclude=exclude, features=features,
                                            categorical=categorical, group_col=group_col)
    except FeatureError as error:
        raise click.UsageError(str(error)) from None
    try:
        dataset = build_dataset(frame, id_col=id_col, label_col=label, spec=spec,
                                group_col=group_col, min_tracks=min_tracks,
                                background=background, grouping=grouping)
    except DatasetError as error:
        raise click.ClickException(str(error)) from None
    unknown = sorted(set(targets) - set(dataset.contexts))
    if unknown:
        raise click.BadParameter(f"unknown context(s): {', '.join(unknown)}",
                                 param_hint="--context-precision")
    dataset.messages[:0] = messages
    for message in dataset.messages:
        click.echo(message, err=True)
    if not as_json:
        click.echo(f"training on {len(dataset)} tracks, {len(dataset.contexts)} contexts, "
                   f"({dataset.background_tracks} of them background), features: "
                   f"{', '.join(spec.columns)}; grouped by {grouping}"
                   + (f" ({group_col})" if group_col else " (no playlist or artist column)"))
    model, report = train_context_model(
        dataset, id_col=id_col, target_precision=target_precision, context_targets=targets,
        n_splits=settings["n_splits"], test_size=settings["test_size"],
        best_effort=settings["best_effort"], multi_context=settings["multi_context"])
    digest = hashlib.sha256(Path(csv_path).read_bytes()).hexdigest()
    report_dict = report.to_dict()
    save_model(model, out, {
        "label_col": label, "group_col": group_col, "target_precision": target_precision,
        "context_targets": targets,
        "providers": {"csv": {"file": Path(csv_path).name, "sha256": digest, "rows": len(frame)}},
        "metrics": report_dict,
    })
    if not as_json:
        _print_training(model, report_dict, out)
    _emit({"model": str(out), **report_dict}, as_json)


def _print_training(model, report_dict, out):
    best = report_dict["grid"]["best"]
    click.echo(f"best of {len(report_dict['grid']['candidates'])} candidates: {best} "
               f"(average precision {report_dict['grid']['best_score']:.3f})")
    for choice in model.cutoffs.values():
        click.echo(choice.message)
    test = report_dict["test"]
    if test:
        click.echo(f"held-out playlists: {test['tracks']} tracks, coverage "
                   f"{test['coverage']:.0%}, precision {test['precision'] or 0:.2f}")
    click.echo(f"model written to {out} ({report_dict['seconds']:.1f} s)")


@click.command("sort")
@click.option("--model", "model_path", required=True, type=click.Path(dir_okay=False),
              help="Model file written by `flask train`.")
@click.option("--user", "user_name", default=None, metavar="SPOTIFY_USER",
              help="Sort this user's imported library (every collection, each track once).")
@click.option("--from-csv", "csv_path", default=None, type=click.Path(dir_okay=False),
              help="Tracks to sort, with the model's feature columns.")
@click.option("--id-col", default=None, help="Track id column of the CSV [default: the model's].")
@click.option("--target-precision", default=None, type=_precision,
              help="Re-choose every cutoff for this precision [default: the model's].")
@click.option("--context-precision", multiple=True, metavar="CONTEXT=P",
              help="Target precision of one context (repeatable).")
@click.option("--explain", is_flag=True, help="Add a `why` column with each assignment's reasons.")
@click.option("--best-effort", is_flag=True,
              help="Give contexts that cannot reach their target a labelled best-effort playlist "
                   "(its own `best_effort` column; `contexts` stays promised only).")
@click.option("--multi-context", is_flag=True,
              help="Let a track go to every context whose cutoff it passes.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="CSV to write.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON (last line).")
def sort_command(model_path, user_name, csv_path, id_col, target_precision, context_precision,
                 explain, best_effort, multi_context, out, as_json):
    """Sort a user's library (--user) or the tracks of a CSV (--from-csv) into the model's contexts
    and write one row per track."""
    if bool(user_name) == bool(csv_path):
        raise click.UsageError("give either --user (an imported library) or --from-csv")
    if user_name and id_col:
        raise click.UsageError("--id-col only applies with --from-csv")
    try:
        model, _ = load_model(model_path)
    except FileNotFoundError:
        raise click.UsageError(f"--model: {model_path} does not exist") from None
    except ArtifactError as error:
        raise click.ClickException(str(error)) from None
    targets = _context_targets(context_precision)
    if target_precision is not None or targets or best_effort or multi_context:
        try:
            model = model.retarget(target_precision, targets,
                                   best_effort=best_effort or None,
                                   multi_context=multi_context or None)
        except KeyError as error:
            raise click.BadParameter(error.args[0], param_hint="--context-precision") from None
    if user_name:
        id_col, table, result = _sort_library(model, user_name, explain)
    else:
        id_col, table, result = _sort_csv(model, csv_path, id_col, explain)
    if explain:
        reasons = {}
        for a in result.assignments:
            reasons.setdefault(a["track_id"], []).append(
                f"{a['context']}: {', '.join(a['reasons'])}")
        table = table.assign(why=[" | ".join(reasons.get(i, [])) for i in table[id_col]])
    table.to_csv(out, index=False)
    for message in result.messages:
        click.echo(message, err=True)
    if not as_json:
        click.echo(f"sorted {len(table)} tracks: {result.coverage:.0%} placed in a context")
        for context, summary in result.contexts.items():
            click.echo(f"  {context}: {summary['words']}"
                       + ("  (looks off)" if summary["looks_off"] else ""))
        click.echo(f"written to {out}")
    _emit({"out": str(out), **result.to_dict()}, as_json)


def _sort_csv(model, csv_path, id_col, explain):
    id_col = id_col or model.id_col
    frame = _read_csv(csv_path, (id_col,))
    _require(frame, "--id-col", id_col)
    duplicates = frame[id_col].duplicated()
    if duplicates.any():
        click.echo(f"{int(duplicates.sum())} repeated id(s) in {id_col}: sorting each track once",
                   err=True)
        frame = frame[~duplicates]
    try:
        result = model.sort(frame, id_col=id_col, explain=explain)
    except ModelInputError as error:
        raise click.UsageError(str(error)) from None
    return id_col, result.table, result


def _sort_library(model, user_name, explain):
    """The library's table keyed by Spotify id (the store's track id where a track has none)."""
    with _store_session() as session:
        try:
            tracks, result = sort_library(session, user_id_for(session, user_name), model,
                                          explain=explain)
        except (DatasetError, ModelInputError) as error:
            raise click.ClickException(str(error)) from None
    keys = [sid or f"track:{tid}" for tid, sid in zip(tracks["track_id"], tracks["spotify_id"])]
    by_track = dict(zip(tracks["track_id"].astype(str), keys))
    table = result.table.assign(track_id=keys).rename(columns={"track_id": LIBRARY_ID})
    for assignment in result.assignments:
        assignment["track_id"] = by_track[assignment["track_id"]]
    return LIBRARY_ID, table, result
