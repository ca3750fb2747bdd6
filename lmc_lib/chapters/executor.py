"""Where the planned models are trained: in this process (the default) or as Ray tasks.

    train_plan(configs)                                   # in process: cache.ensure_trained
    train_plan(configs, executor="ray")                   # a local Ray instance on this machine
    train_plan(configs, executor="ray", address="auto")   # an existing Ray cluster

With Ray, every group of plan.grouped(configs) still missing from the cache is one task that calls
cache.ensure_trained on it, so entries are written atomically under their per-entry locks into
the shared cache folder ($LMC_CACHE) from data in the shared data folder ($LMC_DATA): both must be
the same path on every node. A task whose worker dies or raises is retried `retries` times; what a
dead worker wrote completely stays, a partial entry is discarded and retrained. Groups that still
fail are reported by config in one ExecutorError after every other group has finished.
Ray is optional (`pip install -e '.[ray]'`) and imported only here, only when asked for.
"""
from __future__ import annotations

import os
from pathlib import Path

from lmc_lib.chapters import plan, studies
from lmc_lib.chapters.params import chapter_defaults  # noqa: F401 (executor.chapter_defaults)
from lmc_lib.core import cache
from lmc_lib.core.utils import LmcError

EXECUTORS = ("local", "ray")


class ExecutorError(LmcError):
    """Some planned models could not be trained (the message names their configs)."""


def check(executor: str, address: str | None = None, retries: int = 2) -> None:
    """The executor arguments are usable (checked before any work)."""
    if executor not in EXECUTORS:
        raise LmcError(f"executor {executor!r} is unknown; use one of {', '.join(EXECUTORS)}")
    if address and executor != "ray":
        raise LmcError(f"address {address!r} is only for the ray executor; add --executor ray "
                       "(make book EXECUTOR=ray) or drop the address")
    if not isinstance(retries, int) or retries < 0:
        raise LmcError(f"retries {retries!r}: give a whole number >= 0")
    if executor == "ray":
        _ray()


def _ray():
    """The ray module, or an error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise LmcError("executor 'ray' needs Ray: pip install -e '.[ray]' (make setup installs it)"
                       ) from None
    return ray


def train_plan(configs, executor: str = "local", address: str | None = None, retries: int = 2,
               device="auto", progress: bool = False, cache_dir=None, train=None) -> list[str]:
    """Train every config not cached yet with `executor`; the keys trained.

    `train(group, device, progress, cache_dir)` trains one group (default cache.ensure_trained).
    """
    check(executor, address, retries)
    train = train or cache.ensure_trained
    configs = plan.unique(configs)
    if executor == "local":
        args = (configs, device, progress) + (() if cache_dir is None else (cache_dir,))
        return list(train(*args))
    root = Path(cache_dir if cache_dir is not None else cache.cache_dir()).absolute()
    todo = [c for c in configs if not plan.is_cached(c, root)]
    return _run_ray(plan.grouped(todo), address, retries, str(device), str(root), train) if todo else []


def _worker_env(root: str) -> dict:
    """The environment of the Ray workers: the driver's cache, data folder and training log."""
    env = {"LMC_CACHE": root}
    for name in ("LMC_DATA", "LMC_TRAIN_LOG"):
        if os.environ.get(name):
            env[name] = str(Path(os.environ[name]).expanduser().absolute())
    return env


def _run_ray(groups, address, retries, device, root, train) -> list[str]:
    """One Ray task per group; gathers every task before reporting the failed groups by config."""
    ray = _ray()
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": _worker_env(root)})
    try:
        gpus = 1 if device != "cpu" and ray.cluster_resources().get("GPU", 0) > 0 else 0
        task = ray.remote(_train_group).options(max_retries=retries, retry_exceptions=True,
                                                num_cpus=1, num_gpus=gpus)
        refs = [task.remote(g, device, root, train, _worker_env(root)) for g in groups]
        trained, failed = [], []
        for group, ref in zip(groups, refs):
            try:
                trained += ray.get(ref)
            except ray.exceptions.RayError as err:
                failed.append((group, err))
    finally:
        if started:
            ray.shutdown()
    if failed:
        raise ExecutorError(_report(failed, retries))
    return trained


def _train_group(group, device, root, train, env) -> list[str]:
    """The Ray task: train one group into the shared cache (runs on a worker)."""
    os.environ.update(env)  # a pooled worker keeps it: later tasks set the same names again
    for name in {"LMC_DATA", "LMC_TRAIN_LOG"} - set(env):
        os.environ.pop(name, None)
    return list(train(group, device, False, root))


def describe(config) -> str:
    """A config in a few words (key, dataset, arch, width, seed)."""
    return (f"{config.key()} ({config.dataset} {config.arch} width {config.width:g} "
            f"seed {config.seed})")


def _report(failed, retries) -> str:
    """The failed groups, config by config, with the last error of each."""
    lines = [f"{sum(len(g) for g, _ in failed)} planned model(s) failed after {retries} "
             "retries (entries of the other groups are in the cache):"]
    for group, err in failed:
        last = str(err).strip().splitlines()[-1][:200] if str(err).strip() else type(err).__name__
        lines += [f"  {describe(c)}: {last}" for c in group]
    return "\n".join(lines)


def chapter_setups(sources, per_chapter) -> list:
    """(source, Setup, values) per chapter: its parameters cell's values with the -p values of
    `per_chapter` over them, as a kernel would build its Setup (costly_widths where the chapter's
    study says COSTLY)."""
    from lmc_lib.chapters.experiment import Setup
    from lmc_lib.chapters.params import COMMON

    out = []
    for src, given in zip(sources, per_chapter):
        values = {**chapter_defaults(src), **given}
        costly = studies.costly(Path(src).name[:2])
        out.append((src, Setup.from_params(costly=costly,
                                           **{k: v for k, v in values.items() if k in COMMON}), values))
    return out


def book_configs(sources, per_chapter) -> list:
    """The configs the chapters `sources` will ask for (their second_dataset's too), with the -p
    values of `per_chapter`."""
    from lmc_lib.chapters import guard

    return plan.unique([c for src, setup, values in chapter_setups(sources, per_chapter)
                        for c in guard.planned(Path(src).name[:2], setup,
                                               values.get("second_dataset") or "")])


def pretrain_book(sources, per_chapter, executor: str = "local", address: str | None = None) -> None:
    """Before the kernels start: train the chapters' planned models with `executor` (local: in
    this process, on every core, one group after another, for the chapters with a study module;
    the kernels, which share the cores, then find them cached instead of waiting on each other's
    training locks; a chapter of your own trains what its kernel asks for)."""
    import time

    if executor == "local":
        chosen = [(s, p) for s, p in zip(sources, per_chapter) if studies.exists(Path(s).name[:2])]
        sources, per_chapter = [s for s, _ in chosen], [p for _, p in chosen]
        if not sources:
            return
    configs, t0 = book_configs(sources, per_chapter), time.time()
    print(f"training the {len(configs)} planned models first ({executor}; cached ones are kept)",
          flush=True)
    trained = train_plan(configs, executor, address, device=per_chapter[0].get("device", "auto")
                         if per_chapter else "auto", progress=executor == "local")
    print(f"trained {len(trained)} of {len(configs)} planned models with {executor} "
          f"in {time.time() - t0:.1f} s", flush=True)
