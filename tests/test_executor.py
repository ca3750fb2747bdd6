"""Tests of lmc_lib.chapters.executor: in-process and Ray training write the same cache entries."""
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import torch

from lmc_lib.chapters import executor, plan
from lmc_lib.chapters.experiment import Setup
from lmc_lib.core import cache
from lmc_lib.core.utils import LmcError

REPO = Path(__file__).resolve().parent.parent
SMOKE = plan.configs("02", Setup.from_params(profile="smoke", dataset="mnist", device="cpu"))


def weights(root: Path) -> dict:
    """{key: state_dict} of every complete entry under `root`."""
    return {p.stem: torch.load(p, weights_only=True) for p in sorted(root.glob("*.pt"))
            if p.with_suffix(".json").exists()}


def assert_same_entries(a: Path, b: Path) -> None:
    """Two cache folders hold the same keys with bit-identical weights, and nothing partial."""
    wa, wb = weights(a), weights(b)
    assert sorted(wa) == sorted(wb) == sorted(c.key() for c in SMOKE)
    for key in wa:
        assert wa[key].keys() == wb[key].keys()
        assert all(torch.equal(wa[key][n], wb[key][n]) for n in wa[key]), key
    for root in (a, b):
        assert {e["status"] for e in cache.entries(root)} == {"ok"}


@pytest.fixture(scope="module")
def sequential(tmp_path_factory):
    """The smoke plan of chapter 02 trained in process (one thread), the reference cache."""
    root = tmp_path_factory.mktemp("sequential")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        keys = executor.train_plan(SMOKE, "local", device="cpu", cache_dir=root)
    finally:
        torch.set_num_threads(threads)
    assert sorted(keys) == sorted(c.key() for c in SMOKE)
    return root


@pytest.fixture(scope="module")
def ray_cluster():
    """One local Ray instance (2 CPUs) for the module."""
    import ray
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_library_imports_without_ray():
    code = "import sys, lmc_lib.chapters.executor, lmc_lib.chapters.record, lmc_lib.build.bookbuild; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("args, named", [
    (dict(executor="dask"), "'dask'"),
    (dict(executor="local", address="auto"), "--executor ray"),
    (dict(executor="local", retries=-1), "-1"),
])
def test_bad_arguments_are_named(args, named, tmp_path):
    with pytest.raises(LmcError, match=named):
        executor.train_plan(SMOKE[:1], cache_dir=tmp_path, **args)
    assert not list(tmp_path.iterdir())


def test_chapter_defaults_read_the_parameters_cell(tmp_path):
    src = tmp_path / "99_x.py"
    src.write_text('# %% [markdown]\n# text\n\n# %% tags=["parameters"]\n'
                   'dataset: str = "mnist"  # d\nwidths: list = [0.5, 1]\nn = 3\n\n# %%\nx = 1\n')
    assert executor.chapter_defaults(src) == {"dataset": "mnist", "widths": [0.5, 1], "n": 3}


def test_book_configs_follow_the_given_parameters():
    src = next((REPO / "book").glob("02_*.py"))
    got = executor.book_configs([src], [{"profile": "smoke", "dataset": "mnist", "device": "cpu"}])
    assert got == SMOKE
    wider = executor.book_configs([src], [{"profile": "smoke", "dataset": "mnist",
                                           "device": "cpu", "width": 0.5}])
    assert {c.width for c in wider} == {0.5}


def test_ray_writes_the_same_entries_as_sequential(ray_cluster, sequential, tmp_path):
    keys = executor.train_plan(SMOKE, "ray", device="cpu", cache_dir=tmp_path)
    assert sorted(keys) == sorted(c.key() for c in SMOKE)
    assert_same_entries(sequential, tmp_path)
    assert executor.train_plan(SMOKE, "ray", device="cpu", cache_dir=tmp_path) == []


def test_a_worker_killed_mid_write_is_retried_without_partial_entries(ray_cluster, sequential,
                                                                      tmp_path):
    root, log = tmp_path / "cache", tmp_path / "attempts"
    log.mkdir()

    def crash_once(group, device, progress, cache_dir):
        from lmc_lib.core import cache as worker_cache
        (log / uuid.uuid4().hex).touch()
        try:  # exactly one task crashes: creating the marker is atomic (two run at once)
            os.close(os.open(log / "crashed", os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            pass
        else:
            def half_written(root_, key, *rest):  # the .pt lands, the worker dies before the .json
                worker_cache._paths(root_, key)[0].write_bytes(b"partial")
                os._exit(1)
            worker_cache._write = half_written
        return worker_cache.ensure_trained(group, device, progress, cache_dir)

    keys = executor.train_plan(SMOKE, "ray", retries=1, device="cpu", cache_dir=root,
                               train=crash_once)
    assert (log / "crashed").exists()
    assert len(list(log.iterdir())) - 1 == len(plan.grouped(SMOKE)) + 1  # one retry
    assert sorted(keys) == sorted(c.key() for c in SMOKE)
    assert_same_entries(sequential, root)


def test_groups_failing_every_retry_are_named_and_others_kept(ray_cluster, tmp_path):
    bad = plan.grouped(SMOKE)[0]

    def fail_first_group(group, device, progress, cache_dir):
        from lmc_lib.core import cache as worker_cache
        if group[0].width == bad[0].width:
            raise RuntimeError("out of memory")
        return worker_cache.ensure_trained(group, device, progress, cache_dir)

    with pytest.raises(executor.ExecutorError) as err:
        executor.train_plan(SMOKE, "ray", retries=1, device="cpu", cache_dir=tmp_path,
                            train=fail_first_group)
    assert all(c.key() in str(err.value) for c in bad) and "out of memory" in str(err.value)
    good = [c for c in SMOKE if c not in bad]
    assert sorted(weights(tmp_path)) == sorted(c.key() for c in good)


@pytest.mark.parametrize("argv, named", [
    (["--executor", "dask"], "'dask'"),
    (["--address", "auto"], "--executor ray"),
])
def test_record_and_bookbuild_check_the_executor_before_any_work(argv, named, tmp_path, capsys):
    from lmc_lib.build import bookbuild
    from lmc_lib.chapters import record

    assert record.main(["--profile", "smoke", "--chapters", "02", "--datasets", "mnist",
                        "--root", str(tmp_path), *argv]) == 2
    assert named in capsys.readouterr().err and not list(tmp_path.iterdir())
    assert bookbuild.main(["execute", "--profile", "smoke", "--chapters", "02", *argv]) == 1
    assert named in capsys.readouterr().err


def test_bookbuild_pretrains_the_chapters_plan_through_ray(ray_cluster, sequential, tmp_path,
                                                          monkeypatch, capsys):
    monkeypatch.setenv("LMC_CACHE", str(tmp_path))
    src = next((REPO / "book").glob("02_*.py"))
    given = {"profile": "smoke", "dataset": "mnist", "device": "cpu"}
    executor.pretrain_book([src], [given], "ray")
    assert f"trained {len(SMOKE)} of {len(SMOKE)} planned models with ray" in capsys.readouterr().out
    assert_same_entries(sequential, tmp_path)


def test_a_local_build_trains_the_plan_first_second_dataset_included(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LMC_CACHE", str(tmp_path))
    src = next((REPO / "book").glob("02_*.py"))
    given = {"profile": "smoke", "device": "cpu", "widths": [1 / 16]}
    configs = executor.book_configs([src], [given])
    assert {c.dataset for c in configs} == {"fashion_mnist", "mnist"}  # ch02's second_dataset
    executor.pretrain_book([src], [given], "local")
    assert f"trained {len(configs)} of {len(configs)} planned models with local" in capsys.readouterr().out
    assert all(plan.is_cached(c, tmp_path) for c in configs)


def test_the_build_plan_gives_costly_chapters_the_costly_widths(monkeypatch):
    from lmc_lib.core import config
    smoke = config.PROFILES["smoke"]
    monkeypatch.setitem(config.PROFILES, "smoke", dict(smoke, book=dict(
        smoke["book"], costly_widths=smoke["book"]["widths"][:1])))
    srcs = [next((REPO / "book").glob(f"{ch}_*.py")) for ch in ("02", "03")]
    (_, plain, _), (_, costly, _) = executor.chapter_setups(srcs, [{"profile": "smoke"}] * 2)
    assert plain.widths == tuple(smoke["book"]["widths"]) and costly.widths == plain.widths[:1]


def test_a_chapter_passes_costly_exactly_when_its_study_is_costly():
    from lmc_lib.chapters import studies
    for src in sorted((REPO / "book").glob("[0-9][0-9]_*.py")):
        ch = src.name[:2]
        assert (f"costly=ch{ch}.COSTLY" in src.read_text()) == studies.costly(ch), src.name
    assert studies.costly("98") is False  # no study module: a chapter of your own


def test_a_local_build_leaves_a_chapter_without_a_study_to_its_kernel(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LMC_CACHE", str(tmp_path))
    src = tmp_path / "98_own.py"
    src.write_text('# %% tags=["parameters"]\nprofile: str = "smoke"  # p\n\n# %%\nx = 1\n')
    executor.pretrain_book([src], [{"profile": "smoke", "device": "cpu"}], "local")
    assert "planned models" not in capsys.readouterr().out and not list(tmp_path.glob("*.pt"))
