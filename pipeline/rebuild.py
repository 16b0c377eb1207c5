"""Run a recipe: one datatrove pass per source (read, opt-out, PII, filters) into staging, the tasks
of all sources in one executor run, then one exact budget cut per source, then the lock file that
makes the run verifiable.

Run directory::

    optout/            registry and snapshot (when the recipe compiles one)
    mixture/<source>/  the kept documents, zstd parquet, one shard per task
    removed/<reason>/<source>/   every dropped document, with the evidence in ``detail``
    logs/<source>/{filter,budget}/  datatrove logs, stats and completions (resume)
    rebuild.lock.json  recipe, inputs, snapshot, versions, shards, counts

The budget cut is exact and order-free: every candidate has a keyed-hash ``sample_key``; the
candidates with the smallest keys whose tokens reach the target are kept. When a source's
candidates fit in its budget the staging shards simply become the mixture shards.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow.parquet as pq

from apertus_compliance.errors import ApertusError
from apertus_compliance.folders import OutputExistsError, check_output_folder, output_folder
from apertus_compliance.optout import Snapshot, SnapshotError
from apertus_compliance.pipeline.local_executor import local_workers
from apertus_compliance.pipeline.recipe import Executor, LoadedRecipe, RecipeError, Source
from apertus_compliance.pipeline.shard_hashes import ShardHashes
from apertus_compliance.pipeline.source_tasks import LocalSourcesExecutor, RaySourcesExecutor, SourceStage
from apertus_compliance.pipeline.steps import (
    QUIET_ENV,
    BudgetSampler,
    DeletionListRedaction,
    DocumentValidator,
    OptOutFilter,
    ReasonAs,
    SampleKey,
    SourceReader,
    mixture_writer,
    removed_writer,
)
from apertus_compliance.pipeline.tokenizer import TokenCounter, load_tokenizer
from apertus_compliance.progress import QUIET, Progress

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

RUN_STATE = "logs/run.json"
SLURM_JOBS = "logs/slurm/jobs.json"
"""Written by ``submit_slurm``: the job ids of a run submitted to Slurm."""


@dataclass
class SourcePlan:
    """What preflight found for one source: its data folder, files and task count."""

    source: Source
    data_folder: str
    files: list[str]
    tasks: int
    inputs: list[dict] = field(default_factory=list)


def _echo(message: str) -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------------------------
# preflight: everything that can be wrong is found before any work starts


def plan_sources(loaded: LoadedRecipe) -> list[SourcePlan]:
    """List and check every input; a missing, unreadable or wrongly shaped input is an error."""
    plans = []
    for source in loaded.recipe.sources:
        if source.hub:
            plans.append(_plan_hub_source(source))
            continue
        paths = loaded.input_files(source)
        root = Path(*_common_parts(paths))
        for path in paths:
            _check_input(source, path)
        files = [str(path.relative_to(root)) for path in paths]
        tasks = min(source.tasks or len(files), len(files))
        plans.append(SourcePlan(source, str(root), files, tasks))
    return plans


def _common_parts(paths: list[Path]) -> tuple[str, ...]:
    parts = paths[0].parent.parts
    for path in paths[1:]:
        other = path.parent.parts
        length = 0
        while length < min(len(parts), len(other)) and parts[length] == other[length]:
            length += 1
        parts = parts[:length]
    return parts


JSONL_SAMPLE_LINES = 100
"""Non-empty lines of each JSONL file read before any work to check the field mapping."""


def _check_input(source: Source, path: Path | str, filesystem: AbstractFileSystem | None = None) -> None:
    """Every format's field mapping is checked on the file before any work: parquet by its schema,
    JSONL on a sample of its rows (WARC needs no mapping), so a misspelt field stops the run instead
    of sending every row to ``removed/invalid``. ``filesystem``: fsspec's, local by default."""
    import fsspec

    filesystem = filesystem or fsspec.filesystem("file")
    where = f"source {source.id}: {path}"
    try:
        with filesystem.open(str(path), "rb") as handle:
            head = handle.read(4)
    except OSError as error:
        raise RecipeError(f"{where}: cannot read it ({error.strerror or error})") from error
    if source.format == "parquet":
        try:
            with filesystem.open(str(path), "rb") as handle:
                names = pq.ParquetFile(handle).schema_arrow.names
        except Exception as error:  # pyarrow raises ArrowInvalid, OSError...: all mean "not parquet"
            raise RecipeError(f"{where}: not a readable parquet file ({error})") from error
        if missing := _unmapped(source, names):
            raise RecipeError(f"{where}: no column for {', '.join(missing)} (columns: {', '.join(names)})")
    elif source.format == "jsonl":
        names, rows = _jsonl_sample_fields(filesystem, str(path), where)
        if rows and (missing := _unmapped(source, names)):
            raise RecipeError(
                f"{where}: no field for {', '.join(missing)} in its first {rows} row(s) "
                f"(fields present: {', '.join(sorted(names)) or 'none'})"
            )
    elif source.format == "warc" and head[:2] != b"\x1f\x8b" and not head.startswith(b"WARC"):
        raise RecipeError(f"{where}: not a WARC file (neither gzip nor 'WARC/' at the start)")


def _unmapped(source: Source, names: list[str] | set[str]) -> list[str]:
    """The recipe's field mapping (and text template fields) that ``names`` lacks, as the recipe says them."""
    wanted = [
        (f"fields.{role} = {column!r}", column)
        for role, column in source.fields.model_dump().items()
        if column is not None and not (role == "text" and source.text_template is not None)
    ]
    if source.text_template is not None:
        wanted += [(f"text_template field {column!r}", column) for column in source.required_text_columns]
    present = set(names)
    return [label for label, column in wanted if column not in present]


def _jsonl_sample_fields(filesystem: AbstractFileSystem, path: str, where: str) -> tuple[set[str], int]:
    """The keys of the JSON objects in the first ``JSONL_SAMPLE_LINES`` non-empty lines, and how many
    lines were read. Bad lines are left to the reader (counted as invalid); a sample with no JSON object
    at all is not JSONL and stops the run."""
    import orjson

    names, lines, objects = set(), 0, 0
    try:
        with filesystem.open(path, "rb", compression="infer") as handle:
            for line in handle:
                if not line.strip():
                    continue
                lines += 1
                try:
                    row = orjson.loads(line)
                except orjson.JSONDecodeError:
                    row = None
                if isinstance(row, dict):
                    names.update(row)
                    objects += 1
                if lines >= JSONL_SAMPLE_LINES:
                    break
    except Exception as error:  # gzip, zstd, bz2 raise their own kinds: all mean "cannot be read"
        raise RecipeError(f"{where}: not readable as JSONL ({type(error).__name__}: {error})") from error
    if lines and not objects:
        raise RecipeError(f"{where}: not JSONL (no JSON object in its first {lines} non-empty line(s))")
    return names, lines


def _plan_hub_source(source: Source) -> SourcePlan:
    """A hub source: the revision is resolved to a commit, so the lock pins what was read."""
    from huggingface_hub import HfFileSystem

    hub = source.hub
    filesystem = HfFileSystem()
    try:
        resolved = filesystem.resolve_path(f"datasets/{hub['repo']}@{hub['revision']}")
        root = f"datasets/{hub['repo']}@{resolved.revision}"
        files = sorted(path[len(root) + 1 :] for path in filesystem.glob(f"{root}/{hub['glob']}"))
    except Exception as error:  # network, auth, missing repo: all stop the run before it starts
        raise RecipeError(f"source {source.id}: cannot list {source.location} ({error})") from error
    if not files:
        raise RecipeError(f"source {source.id}: no files match {source.location}")
    _check_input(source, f"{root}/{files[0]}", filesystem)  # the mapping, on the first file: one download
    plan = SourcePlan(source, f"hf://{root}", files, min(source.tasks or len(files), len(files)))
    plan.inputs = [{"path": name, "revision": resolved.revision} for name in files]
    return plan


def snapshot_folder(loaded: LoadedRecipe, run_dir: Path) -> Path | None:
    """Where the run's opt-out snapshot is (or will be, once ``prepare_snapshot`` compiled it)."""
    optout = loaded.recipe.optout
    if optout is None:
        return None
    return loaded.resolve(optout.snapshot) if optout.snapshot is not None else run_dir / "optout" / "snapshot"


def prepare_snapshot(
    loaded: LoadedRecipe, run_dir: Path, echo: Callable[[str], None] = _echo, progress: Progress = QUIET
) -> Snapshot | None:
    """The recipe's opt-out snapshot: a compiled one, or one compiled now into ``run_dir/optout``."""
    optout, target = loaded.recipe.optout, snapshot_folder(loaded, run_dir)
    if target is None:
        return None
    if optout.snapshot is not None or (target / "manifest.json").is_file():
        return _load_snapshot(target)
    from apertus_compliance.optout import (
        Registry,
        SnapshotOptions,
        compile_snapshot,
        ingest_bundled_sample,
        load_agent_list,
    )

    if optout.registry == "bundled-sample":
        registry_path = run_dir / "optout" / "registry.duckdb"
        registry_path.parent.mkdir(parents=True, exist_ok=True)
        registry_path.unlink(missing_ok=True)
        with Registry(registry_path) as registry:
            report = ingest_bundled_sample(registry, progress)
        echo(f"opt-out: ingested the bundled signals: {report.summary()}")
    else:
        registry_path = loaded.resolve(optout.registry)
    options = SnapshotOptions(
        as_of=optout.as_of,
        agent_list=load_agent_list(optout.agents),
        granularity=optout.granularity,
        strict=optout.strict,
    )
    staging = target.with_name("snapshot.partial")
    shutil.rmtree(staging, ignore_errors=True)
    progress.update(f"opt-out: compiling the snapshot as of {optout.as_of}")
    with Registry(registry_path, read_only=True) as registry:
        compile_snapshot(registry, options, staging)
    staging.rename(target)
    snapshot = _load_snapshot(target)
    echo(
        f"opt-out: snapshot {snapshot.snapshot_id[:12]} as of {snapshot.as_of} ({optout.agents}, {optout.granularity})"
    )
    return snapshot


def check_deletion_list(loaded: LoadedRecipe) -> dict | None:
    """The recipe's deletion list, verified (signature, payload hash) before any work."""
    listed = loaded.recipe.deletion_list
    if listed is None:
        return None
    from apertus_compliance.filters import ReleaseError, verify_release

    try:
        return verify_release(loaded.resolve(listed.release), loaded.resolve(listed.public_key))[0]
    except ReleaseError as error:
        raise RecipeError(f"deletion_list: {error}") from error


def _load_snapshot(folder: Path) -> Snapshot:
    """The run's snapshot, every file re-hashed once here on the driver (workers only map it)."""
    try:
        snapshot = Snapshot(folder)
        snapshot.verify()
        return snapshot
    except SnapshotError as error:
        raise RecipeError(f"optout: {error}") from error


# --------------------------------------------------------------------------------------------
# running


class IncompleteStage(ApertusError, RuntimeError):
    """A stage whose tasks did not all complete; running the same command again resumes it."""


def run_stage(
    stages: list[SourceStage],
    workers: int,
    settings: Executor,
    what: str,
    progress: Progress = QUIET,
    label: str | None = None,
) -> None:
    """Run the stages of one or more sources as one executor run (``source_tasks``), resuming
    (completed tasks are skipped), and insist that every task of every source completed.

    Every worker takes the next task of any source, so none waits for the last task of a source
    before the next source starts. datatrove's Ray executor gives up on a task after three attempts
    with a warning only; a stage with a task missing must stop the rebuild here, before the budget
    or the lock read its output, naming the sources and their ranks. ``progress`` shows ``label``
    and the tasks completed so far (datatrove's completion markers).
    """
    tasks = sum(stage.tasks for stage in stages)
    options = {
        "workers": min(workers, tasks),
        "logging_dir": os.path.commonpath([stage.logging_dir for stage in stages]),  # nothing is written there
    }
    if settings.name == "ray":
        executor = RaySourcesExecutor(
            stages, cpus_per_task=settings.ray.cpus_per_task, mem_per_cpu_gb=settings.ray.mem_per_cpu_gb, **options
        )
    else:
        executor = LocalSourcesExecutor(stages, start_method="spawn" if workers > 1 else "forkserver", **options)

    def tasks_done() -> str:
        return f"{label or what} {len(executor.completed())}/{tasks} tasks"

    with progress.watch(tasks_done):
        executor.run()
    if missing := executor.incomplete():
        folders = {stage.source: stage.logging_dir for stage in stages}
        named = "; ".join(
            f"{source} rank{'s' if len(ranks) > 1 else ''} {', '.join(map(str, ranks[:10]))}"
            + (f" and {len(ranks) - 10} more" if len(ranks) > 10 else "")
            + f", logs in {folders[source]}/logs"
            for source, ranks in missing.items()
        )
        raise IncompleteStage(
            f"{what}: {sum(map(len, missing.values()))} of {tasks} task(s) did not complete ({named}); "
            "run the same command again to resume"
        )


@contextlib.contextmanager
def ray_cluster(settings: Executor, workers: int) -> Iterator[None]:
    """Connect to the recipe's Ray cluster (or ``RAY_ADDRESS``), or start a local one with ``workers`` CPUs
    for this run; datatrove's Ray executor expects ``ray.init`` to have been called. The workers the
    stages start live until the block ends (one start per worker for the whole run); in a session the
    caller started, until the caller's ``ray.shutdown`` (``ray_workers.session_workers().close()``
    frees them sooner)."""
    import ray

    from apertus_compliance.pipeline.ray_workers import session_workers

    if ray.is_initialized():  # the caller's session: its workers stay for the caller's next rebuild
        yield
        return
    quiet = {QUIET_ENV: os.environ[QUIET_ENV]} if os.environ.get(QUIET_ENV) else {}
    address = settings.ray.address or os.environ.get("RAY_ADDRESS")
    options = {"runtime_env": {"env_vars": quiet}, "log_to_driver": False, "configure_logging": False}
    if address:
        ray.init(address=address, **options)
    else:
        ray.init(
            num_cpus=workers * settings.ray.cpus_per_task,
            include_dashboard=False,
            object_store_memory=256 * 1024 * 1024,
            **options,
        )
    try:
        yield
    finally:
        session_workers().close()
        ray.shutdown()


def filter_pipeline(loaded: LoadedRecipe, plan: SourcePlan, snapshot: Path | None, run_dir: Path) -> list:
    """Read -> count -> validate -> opt-out -> mask -> recount -> recipe filters -> key -> staging shards
    -> their hashes (``shard_hashes``).

    Every row's ``tokens`` is the count of its own ``text``: documents removed before masking are
    counted as read, the rest (kept ones, which the budget is cut on) as masked and redacted."""
    source, removed = plan.source, run_dir / "removed"
    steps = [
        SourceReader(plan.data_folder, plan.files, source.id, source.format, source.fields, source.text_template),
        TokenCounter(loaded.recipe.tokenizer, str(loaded.folder)),
        DocumentValidator(require_url=source.optout, exclusion_writer=removed_writer(removed, source.id)),
    ]
    if source.optout:
        steps.append(OptOutFilter(str(snapshot), exclusion_writer=removed_writer(removed, source.id)))
    if source.pii:
        from apertus_compliance.pipeline.pii import PIIMasker

        steps.append(PIIMasker(public_ip_only=source.public_ip_only))
    listed = loaded.recipe.deletion_list
    if listed is not None and source.deletion_list:
        steps.append(DeletionListRedaction(str(loaded.resolve(listed.release)), str(loaded.resolve(listed.public_key))))
    steps.append(TokenCounter(loaded.recipe.tokenizer, str(loaded.folder), written=True))
    for extra in source.filters:
        steps.append(ReasonAs(extra.build(), extra.id, exclusion_writer=removed_writer(removed, source.id, extra.id)))
    steps += [
        SampleKey(loaded.recipe.seed),
        mixture_writer(run_dir / "staging" / source.id),
        ShardHashes(
            str(run_dir),
            str(run_dir / "logs" / source.id / "filter"),
            [f"staging/{source.id}/{{rank}}.parquet", f"removed/*/{source.id}/{{rank}}.parquet"],
        ),
    ]
    return steps


def budget_cutoff(folder: Path, target_tokens: int) -> dict:
    """The smallest (sample_key, id) at which the candidates' cumulative tokens reach the target.

    ``target_tokens`` counts each document once (a source's ``unique_target_tokens``: a source
    repeated for ``epochs`` needs ``1/epochs`` of its budget in distinct documents). ``binding`` is
    False when all candidates fit: then nothing is cut.
    """
    shards = sorted(folder.glob("*.parquet"))
    if not shards:
        return {"candidates": 0, "candidate_tokens": 0, "binding": False}
    with duckdb.connect() as con:
        files = [str(path) for path in shards]
        count, tokens = con.execute(
            "SELECT count(*), coalesce(sum(tokens), 0) FROM read_parquet(?)", [files]
        ).fetchone()
        result = {"candidates": count, "candidate_tokens": int(tokens), "binding": tokens > target_tokens}
        if result["binding"]:
            key, doc_id = con.execute(
                """SELECT sample_key, id FROM (
                     SELECT sample_key, id, sum(tokens) OVER (ORDER BY sample_key, id
                       ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS filled
                     FROM read_parquet(?))
                   WHERE filled >= ? ORDER BY sample_key, id LIMIT 1""",
                [files, target_tokens],
            ).fetchone()
            result |= {"cutoff_key": int(key), "cutoff_id": doc_id}
    return result


def _apply_budget(
    plan: SourcePlan,
    run_dir: Path,
    workers: int,
    settings: Executor,
    echo: Callable[[str], None],
    progress: Progress = QUIET,
    label: str | None = None,
) -> dict:
    source = plan.source
    staging, mixture = run_dir / "staging" / source.id, run_dir / "mixture" / source.id
    decision_file = run_dir / "logs" / source.id / "budget.json"
    if decision_file.is_file():  # resumed: the cut was decided on the complete staging set
        decision = json.loads(decision_file.read_text())
    else:
        decision = budget_cutoff(staging, source.unique_target_tokens)
        decision_file.write_text(json.dumps(decision, indent=2, sort_keys=True) + "\n")
    if not decision["binding"]:
        mixture.mkdir(parents=True, exist_ok=True)
        for shard in sorted(staging.glob("*.parquet")):
            shard.rename(mixture / shard.name)
        return decision
    from datatrove.pipeline.readers import ParquetReader

    repeated = f" ({source.unique_target_tokens:,} x {source.epochs} epochs)" if source.epochs > 1 else ""
    echo(
        f"  {source.id}: {decision['candidate_tokens']:,} candidate tokens > budget "
        f"{source.target_tokens:,}{repeated}: sampling by key"
    )
    steps = [
        ParquetReader(str(staging), glob_pattern="*.parquet"),
        BudgetSampler(
            decision["cutoff_key"],
            decision["cutoff_id"],
            exclusion_writer=removed_writer(run_dir / "removed", source.id, "budget"),
        ),
        mixture_writer(mixture),
        ShardHashes(
            str(run_dir),
            str(run_dir / "logs" / source.id / "budget"),
            [f"mixture/{source.id}/{{rank}}.parquet", f"removed/budget/{source.id}/{{rank}}.parquet"],
        ),
    ]
    stage = SourceStage(source.id, steps, plan.tasks, str(run_dir / "logs" / source.id / "budget"))
    run_stage([stage], workers, settings, f"{source.id}: budget sampling", progress, label)
    return decision


@dataclass
class PreparedRun:
    """A run directory claimed for a recipe, its snapshot ready, and one filter pipeline per source."""

    run_dir: Path
    plans: list[SourcePlan]
    pipelines: list[list]
    snapshot: Snapshot | None
    deletion_list: dict | None


def prepare_run(
    loaded: LoadedRecipe, run_dir: str | Path, echo: Callable[[str], None] = _echo, progress: Progress = QUIET
) -> PreparedRun:
    """Everything before the first datatrove task: checks that fail before any work, the run directory, the
    opt-out snapshot. Shared by every executor (``rebuild`` runs the stages, ``submit_slurm`` submits them)."""
    recipe = loaded.recipe
    run_dir = Path(run_dir).resolve()
    load_tokenizer(recipe.tokenizer, loaded.folder)  # everything that can fail, fails before any work
    deletion_list = check_deletion_list(loaded)
    plans = plan_sources(loaded)
    pipelines = [filter_pipeline(loaded, plan, snapshot_folder(loaded, run_dir), run_dir) for plan in plans]
    if recipe.optout and recipe.optout.registry not in (None, "bundled-sample"):
        if not loaded.resolve(recipe.optout.registry).is_file():
            raise RecipeError(f"optout.registry: {loaded.resolve(recipe.optout.registry)} does not exist")
    _claim_run_dir(loaded, run_dir)
    snapshot = prepare_snapshot(loaded, run_dir, echo, progress)
    return PreparedRun(run_dir, plans, pipelines, snapshot, deletion_list)


def rebuild(
    loaded: LoadedRecipe,
    run_dir: str | Path,
    workers: int | None = None,
    echo: Callable[[str], None] = _echo,
    executor: str | None = None,
    provider_file: Path | None = None,
    progress: Progress = QUIET,
    stage_prefix: str = "rebuild:",
) -> dict:
    """Run ``loaded`` into ``run_dir`` (resuming what is done) and write the lock; returns it.

    ``workers`` and ``executor`` (local or ray) override the recipe's; neither changes the output.
    Slurm runs are submitted with ``pipeline.slurm.submit_slurm`` and finish with this function.
    ``provider_file``: documents follow, so the lock marks the run incomplete until
    ``lock.record_documents``. ``progress`` shows each stage (``rebuild: filter 6 sources 3/11 tasks``, then
    ``rebuild: budget web (1/6 sources)``).
    """
    from apertus_compliance.pipeline.lock import conservation_errors, write_lock

    recipe = loaded.recipe
    settings = recipe.executor.model_copy(update={"name": executor or recipe.executor.name})
    if settings.name == "slurm":
        raise RecipeError(
            "executor 'slurm' submits jobs: use `rebuild --executor slurm` or "
            "pipeline.slurm.submit_slurm (the last job finishes the run with the local executor)"
        )
    workers = workers or recipe.executor.workers
    prepared = prepare_run(loaded, run_dir, echo, progress)
    run_dir = prepared.run_dir
    decisions = {}
    stages = [
        SourceStage(
            plan.source.id, steps, plan.tasks, str(run_dir / "logs" / plan.source.id / "filter"), _task_bytes(plan)
        )
        for plan, steps in zip(prepared.plans, prepared.pipelines, strict=True)
    ]
    tasks = sum(stage.tasks for stage in stages)
    for plan in prepared.plans:
        echo(f"{plan.source.id}: {len(plan.files)} file(s), {plan.tasks} task(s)")
    echo(
        f"filter stage: {tasks} task(s) of {len(stages)} source(s) in one run, {min(workers, tasks)} "
        f"worker(s){' on Ray' if settings.name == 'ray' else ''}"
    )
    with ray_cluster(settings, workers) if settings.name == "ray" else local_workers():
        run_stage(stages, workers, settings, "filtering", progress, f"{stage_prefix} filter {_sources_label(stages)}")
        for number, plan in enumerate(prepared.plans, start=1):
            source, of = plan.source, f"({number}/{len(prepared.plans)} sources)"
            progress.update(f"{stage_prefix} budget {source.id} {of}")
            decisions[source.id] = _apply_budget(
                plan, run_dir, workers, settings, echo, progress, f"{stage_prefix} budget {source.id} {of}"
            )
    submitted = (run_dir / SLURM_JOBS).is_file()  # the filter stage ran as Slurm arrays; this is the finishing job
    progress.update(f"{stage_prefix} lock")
    lock = write_lock(
        loaded,
        prepared.plans,
        prepared.snapshot,
        decisions,
        run_dir,
        workers,
        prepared.deletion_list,
        executor="slurm" if submitted else settings.name,
        provider_file=provider_file,
    )
    if problems := conservation_errors(lock):
        raise RuntimeError("documents unaccounted for: " + "; ".join(problems))
    shutil.rmtree(run_dir / "staging", ignore_errors=True)
    return lock


def _task_bytes(plan: SourcePlan) -> tuple[int, ...]:
    """The bytes of input of each filter task (``SourceReader``: task ``r`` reads ``files[r::tasks]``);
    none for a hub source, whose files are not here yet."""
    if plan.source.hub:
        return ()
    root = Path(plan.data_folder)
    sizes = [(root / name).stat().st_size for name in plan.files]
    return tuple(sum(sizes[rank :: plan.tasks]) for rank in range(plan.tasks))


def _sources_label(stages: list[SourceStage]) -> str:
    """``web`` for one source, ``3 sources`` for several (the progress line of the filter stage)."""
    return stages[0].source if len(stages) == 1 else f"{len(stages)} sources"


def _claim_run_dir(loaded: LoadedRecipe, run_dir: Path) -> None:
    """A run directory belongs to one recipe text: resuming with another would mix outputs."""
    state = run_dir / RUN_STATE
    if state.is_file():
        previous = json.loads(state.read_text())
        if previous.get("recipe_sha256") != loaded.sha256:
            raise OutputExistsError(
                f"{run_dir}: holds a run of another recipe ({previous.get('recipe')}); "
                "use another --out, or --force to replace it"
            )
        return
    check_output_folder(run_dir)  # refuses a file, or a folder with anything else in it
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(json.dumps({"recipe": str(loaded.path), "recipe_sha256": loaded.sha256}, indent=2) + "\n")


@contextlib.contextmanager
def run_folder(run_dir: str | Path, force: bool = False) -> Iterator[Path]:
    """The folder to rebuild into, for the rebuild and its documents.

    Without ``force``: ``run_dir`` itself; a new or empty one is claimed, a run of the same recipe
    resumes, anything else is refused before any work (naming the folder). With ``force`` and
    content in ``run_dir``: a new sibling folder, which replaces ``run_dir`` only when the block
    succeeds; on failure or Ctrl-C it is removed and ``run_dir`` stays as it was.
    """
    run_dir = Path(run_dir).resolve()
    if not (force and check_output_folder(run_dir, force=True)):
        yield run_dir
        return
    with output_folder(run_dir, force=True) as staging:
        yield staging
