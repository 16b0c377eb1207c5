"""``rebuild --executor slurm``: submit a rebuild to a Slurm cluster, from a login node.

The run directory must be on a filesystem every node sees. Submission does the preflight here
(recipe, inputs, run directory, opt-out snapshot), then submits, with datatrove's
``SlurmPipelineExecutor``, each source's filter stage as a job array whose array tasks each run
several datatrove tasks one after another in one process (``ranks_per_job``: the snapshot and the
tokenizer are loaded once per array task, not once per datatrove task), and last one job that
waits for all of them (``--dependency=afterok``) and finishes the run on one node: it runs the
same ``rebuild`` with the local executor, which finds every filter task complete, decides the
budget cuts, samples, and writes the lock (and the documents). The budget cut needs the whole candidate set of a source, so it cannot run inside the arrays.

Re-submitting the same command resumes: complete filter tasks are not submitted again.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from apertus_compliance.errors import ApertusError
from apertus_compliance.pipeline.rebuild import SLURM_JOBS, _echo, prepare_run
from apertus_compliance.pipeline.recipe import LoadedRecipe, RecipeError, SlurmSettings

RANKS_PER_JOB = 8
"""datatrove tasks per array task when the submission does not say how many array tasks may run at
once; the recipe's ``slurm.time`` must cover this many tasks."""


def ranks_per_job(tasks: int, workers: int | None) -> int:
    """With ``workers`` array tasks running at once, each runs its share of the ``tasks`` (one
    start per worker, as on Ray); without, ``RANKS_PER_JOB``."""
    return -(-tasks // workers) if workers else min(RANKS_PER_JOB, tasks)


class SlurmError(ApertusError, RuntimeError):
    """sbatch is missing or refused a job; the message says which and why."""


def environment_command(settings: SlurmSettings) -> str:
    """What a compute node runs first: the recipe's ``env_command``, else activating this virtualenv."""
    if settings.env_command:
        return settings.env_command
    if sys.prefix != sys.base_prefix:
        return f"source {shlex.quote(str(Path(sys.prefix) / 'bin' / 'activate'))}"
    return ""


def finish_script(
    loaded: LoadedRecipe, run_dir: Path, settings: SlurmSettings, workers: int, provider_file: Path | None
) -> str:
    """The last job: the same rebuild, local executor, resuming after the arrays."""
    command = [
        str(Path(sys.executable).parent / "apertus-compliance"),
        "rebuild",
        "--recipe",
        str(loaded.path),
        "--out",
        str(run_dir),
        "--executor",
        "local",
        "--workers",
        str(workers),
    ]
    if provider_file is not None:
        command += ["--provider", str(provider_file)]
    directives = {
        "job-name": f"{loaded.recipe.name}-finish",
        "partition": settings.partition,
        "time": settings.time,
        "cpus-per-task": workers,
        "mem-per-cpu": f"{settings.mem_per_cpu_gb}G",
        "output": str(run_dir / "logs" / "slurm" / "finish-%j.out"),
        **({"qos": settings.qos} if settings.qos else {}),
        **settings.sbatch_args,
    }
    lines = [
        "#!/bin/bash",
        *(f"#SBATCH --{key}={value}" for key, value in directives.items()),
        environment_command(settings),
        "set -euo pipefail",
        "export PYTHONUNBUFFERED=TRUE",
        shlex.join(command),
    ]
    return "\n".join(line for line in lines if line) + "\n"


def _sbatch(script: Path, *arguments: str) -> str:
    try:
        done = subprocess.run(
            ["sbatch", "--parsable", *arguments, str(script)], capture_output=True, text=True, check=False
        )
    except FileNotFoundError as error:
        raise SlurmError("sbatch not found: submit from a Slurm login node (or use --executor local/ray)") from error
    if done.returncode != 0:
        raise SlurmError(f"sbatch refused {script}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip().split(";")[0]


def submit_slurm(
    loaded: LoadedRecipe,
    run_dir: str | Path,
    workers: int | None = None,
    echo: Callable[[str], None] = _echo,
    provider_file: Path | None = None,
) -> dict:
    """Submit the run; returns the job ids (``filter`` per source, -1 when already complete, and ``finish``).

    ``workers``: how many array tasks of a source run at once (default: as many as Slurm allows);
    the source's tasks are shared among them (``ranks_per_job``). The finishing job uses the
    recipe's ``executor.workers`` cores.
    """
    from datatrove.executor import SlurmPipelineExecutor

    settings = loaded.recipe.executor.slurm
    if not settings.partition:
        raise RecipeError("executor.slurm.partition is required to submit to Slurm")
    if shutil.which("sbatch") is None:
        raise SlurmError("sbatch not found: submit from a Slurm login node (or use --executor local/ray)")
    prepared = prepare_run(loaded, run_dir, echo)
    run_dir = prepared.run_dir
    environment = environment_command(settings)
    jobs: dict = {"filter": {}}
    for plan, steps in zip(prepared.plans, prepared.pipelines, strict=True):
        source = plan.source
        executor = SlurmPipelineExecutor(
            pipeline=steps,
            tasks=plan.tasks,
            tasks_per_job=ranks_per_job(plan.tasks, workers),
            workers=workers or -1,
            time=settings.time,
            partition=settings.partition,
            cpus_per_task=settings.cpus_per_task,
            mem_per_cpu_gb=settings.mem_per_cpu_gb,
            qos=settings.qos or "",
            env_command=environment or None,
            job_name=f"{loaded.recipe.name}-{source.id}",
            sbatch_args=dict(settings.sbatch_args),
            logging_dir=str(run_dir / "logs" / source.id / "filter"),
            mail_type="NONE",
        )
        try:
            executor.run()  # sbatch, unless every task of this source is complete
        except subprocess.CalledProcessError as error:
            raise SlurmError(f"{source.id}: sbatch failed: {error}") from error
        jobs["filter"][source.id] = executor.job_id
        echo(
            f"{source.id}: {plan.tasks} task(s) "
            + (f"submitted as job {executor.job_id}" if executor.job_id != -1 else "already complete")
        )
    folder = (run_dir / SLURM_JOBS).parent
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "finish.slurm"
    script.write_text(finish_script(loaded, run_dir, settings, loaded.recipe.executor.workers, provider_file))
    (run_dir / SLURM_JOBS).write_text(json.dumps(jobs, indent=2) + "\n")  # before the finishing job can start
    waiting_for = [str(job) for job in jobs["filter"].values() if job != -1]
    jobs["finish"] = _sbatch(script, *([f"--dependency=afterok:{':'.join(waiting_for)}"] if waiting_for else []))
    (run_dir / SLURM_JOBS).write_text(json.dumps(jobs, indent=2) + "\n")
    echo(
        f"finish: job {jobs['finish']} writes {run_dir / 'rebuild.lock.json'} when the arrays have succeeded "
        f"(log: {folder / ('finish-' + jobs['finish'] + '.out')})"
    )
    return jobs
