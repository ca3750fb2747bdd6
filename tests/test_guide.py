"""book/guide.md's Python blocks run as printed (smoke profile, as papermill would inject it), the
studies they cache are loaded on a second run and recomputed after an edit, and a chapter's kernel
starts without the unencrypted-TCP warning."""
import json
import re
from pathlib import Path

import pytest

from lmc_lib.build import bookbuild
from lmc_lib.chapters import hypothesis
from lmc_lib.core import runlog
from lmc_lib.core.config import TrainConfig

GUIDE = Path(__file__).resolve().parent.parent / "book" / "guide.md"
INJECTED = 'profile = "smoke"\nwidths = []\n'  # what `-p profile smoke -p widths "[]"` injects


def blocks() -> list[str]:
    """The ```python blocks of the guide, in order."""
    return re.findall(r"```python\n(.*?)```", GUIDE.read_text(), re.S)


def run_guide(namespace: dict | None = None) -> dict:
    """Execute every block in one namespace; the parameters are overridden after their cell."""
    ns = {"__name__": "__main__"} if namespace is None else namespace
    for code in blocks():
        exec(compile(code, str(GUIDE), "exec"), ns)
        if code.startswith('# %% tags=["parameters"]'):
            exec(INJECTED, ns)
    return ns


@pytest.fixture
def smoke(tmp_path, monkeypatch):
    monkeypatch.setenv("LMC_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LMC_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("LMC_STUDY_CACHE", "1")
    monkeypatch.setenv(runlog.LOG_ENV, str(tmp_path / "train.log"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setattr("matplotlib.pyplot.show", lambda *a, **k: None)
    return tmp_path


def test_the_guides_blocks_run_and_record_a_verdict_with_its_core(smoke):
    assert len(blocks()) >= 5 and blocks()[0].startswith('# %% tags=["parameters"]')
    ns = run_guide()
    (path,) = (smoke / "results" / "smoke").glob("H2_*.json")
    rec = json.loads(path.read_text())
    assert rec["core"] == [ns["LOWER"]] and set(rec["checks"]) == {ns["LOWER"], ns["FALLS"]}
    assert rec["verdict"] == ns["judgement"].verdict
    assert [row["check"] for row in rec["rows"]] == [ns["LOWER"], ns["FALLS"]]
    assert len(rec["rows"][0]["values"]) == len(ns["ws"]) == 2  # mean +- std per smoke width
    log = (smoke / "train.log").read_text().splitlines()
    assert len(log) == 3 * 2 * 2 * 2  # 3 recipes x 2 widths x 2 pairs x 2 models, each once
    assert sum("[sgd lr=0.05 momentum=0.9 nesterov" in line for line in log) == 8
    assert sum(" loss=label_smoothed@" in line for line in log) == 8  # the ingredient of §4.6


def test_a_second_run_loads_every_study_and_an_edited_helper_recomputes(smoke, monkeypatch):
    ns = run_guide()
    trained = len((smoke / "train.log").read_text().splitlines())

    def fail(*a, **k):
        raise AssertionError("recomputed a cached study")
    monkeypatch.setattr(hypothesis, "pair_curves", fail)
    monkeypatch.setattr(hypothesis, "sweep", fail)
    again = run_guide()
    assert len((smoke / "train.log").read_text().splitlines()) == trained  # nothing trained
    assert again["measured"]["Adam barrier"].tolist() == ns["measured"]["Adam barrier"].tolist()
    exec('def endpoint_accuracy(model_a, model_b, pair):\n    return 0.0\n', again)
    with pytest.raises(AssertionError, match="recomputed"):
        again["accuracies"](again["setup"])  # the helper's source is in the study's key
    again["margin"] = 0.5
    with pytest.raises(AssertionError, match="recomputed"):
        again["accuracies"](again["setup"].but(n_pairs=1))  # another setup: another key


def test_the_recipe_table_names_training_settings_that_exist():
    table = GUIDE.read_text().split("| setting |", 1)[1].split("\n\n", 1)[0]
    named = set(re.findall(r"^\| `(\w+)`(?:, `(\w+)`)?", table, re.M))
    names = {n for pair in named for n in pair if n}
    assert {"optimizer", "lr", "momentum", "nesterov", "n_train"} <= names
    assert names <= set(TrainConfig.__dataclass_fields__) - set(hypothesis.FIXED)


HEADER = """# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---
"""


def test_a_chapter_kernel_starts_without_the_unencrypted_tcp_warning(tmp_path, capfd):
    src = tmp_path / "01_tiny.py"
    src.write_text(HEADER + '\n# %% tags=["parameters"]\nx: int = 1\n\n# %%\nprint(x + 1)\n')
    bookbuild.execute(src, tmp_path / "out.ipynb", {"x": 2}, cwd=tmp_path)
    cells = json.loads((tmp_path / "out.ipynb").read_text())["cells"]
    printed = ["".join(o["text"]) for c in cells for o in c.get("outputs", []) if o.get("name") == "stdout"]
    assert printed == ["3\n"]  # the kernel ran, with the injected parameter
    assert "without encryption" not in capfd.readouterr().err
