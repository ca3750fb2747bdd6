"""The guide's example and the generated chapter take the same shared parameters (seed included), in
the order of params.COMMON, and both pass every one of them to Setup.from_params."""
import re
from pathlib import Path

from lmc_lib.build import newchapter
from lmc_lib.chapters import params

GUIDE = Path(__file__).resolve().parent.parent / "book" / "guide.md"


def shared(cell: str) -> list[str]:
    """The names of the shared parameters a parameters cell declares, in its order."""
    names = re.findall(r"^(\w+)\s*:\s*\w+\s*=", cell, re.M)
    return [n for n in names if n in params.COMMON]


def from_params_args(text: str) -> set[str]:
    """The names passed as `name=name` to the first Setup.from_params call of a text."""
    call = re.search(r"Setup\.from_params\((.*?)\)\n", text, re.S).group(1)
    return {k for k, v in re.findall(r"(\w+)=(\w+)", call) if k == v}


def test_guide_and_template_declare_and_pass_the_same_shared_parameters():
    template = newchapter.render("my_hypothesis", 12)
    cells = {"template": template.split('# %% tags=["parameters"]', 1)[1].split("# %%", 1)[0],
             "guide": re.search(r'# %% tags=\["parameters"\]\n(.*?)```', GUIDE.read_text(), re.S).group(1)}
    for where, cell in cells.items():
        assert shared(cell) == list(params.COMMON), where
    assert from_params_args(template) == set(params.COMMON)
    code = "".join(re.findall(r"```python\n(.*?)```", GUIDE.read_text(), re.S))
    assert from_params_args(code) == set(params.COMMON)
