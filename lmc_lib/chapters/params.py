"""The chapters' parameters, declared once (name, type, range, meaning) and checked before any work.

bookbuild (before a kernel starts), Setup.from_params (inside the kernel, so a direct papermill run
is checked too) and record use `validate`. "Use the profile's value" is spelled one way: 0 for a
number, an empty list for a list, and -1 for `weight_decay` (0 is a real weight decay). Values may
come as strings (YAML, `papermill -r`): lists are accepted as "0.5,1" or "[0.5, 1]".
"""
from __future__ import annotations

import ast
import hashlib
import math
import re
from pathlib import Path
from typing import NamedTuple

from lmc_lib.chapters import notebook
from lmc_lib.core.config import PROFILE_NAMES
from lmc_lib.core.utils import LmcError

MAX_WIDTH = 1024.0  # beyond this no model of the book fits any machine


class ParamError(LmcError):
    """A chapter parameter has an unknown name, a wrong type or a value out of range."""


class Param(NamedTuple):
    """One parameter: kind (str|int|float|floats|ints|dict), allowed values, meaning."""

    kind: str
    allowed: object  # choices (tuple) for str, or a predicate on the parsed value
    rule: str        # what is allowed, in words (shown in errors)
    meaning: str


def _p(kind, allowed, rule, meaning):
    return Param(kind, allowed, rule, meaning)


_POS = (lambda v: v > 0, "> 0")
_NONNEG = (lambda v: v >= 0, ">= 0 (0: the profile's value)")
_ODD = (lambda v: v == 0 or (v >= 3 and v % 2 == 1), "0 or an odd number >= 3")
_ODD3 = (lambda v: v >= 3 and v % 2 == 1, "an odd number >= 3")
_UNIT = (lambda v: 0 < v <= 1, "in (0, 1]")
_WIDTHS = (lambda v: all(0 < w <= MAX_WIDTH for w in v), f"widths in (0, {MAX_WIDTH:g}]")
_DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100")
_SECOND = dict(second_dataset=_p("str", ("",) + _DATASETS, "'' (none) or one of " + ", ".join(_DATASETS),
                                 "a second data set the headline figure and verdicts are repeated on"))

COMMON = {
    "dataset": _p("str", _DATASETS, "one of " + ", ".join(_DATASETS), "the data set"),
    "model": _p("str", ("mlp", "vgg11", "resnet20"), "mlp, vgg11 or resnet20", "the architecture"),
    "widths": _p("floats", *_WIDTHS[:1], _WIDTHS[1] + " (empty: the profile's widths)",
                 "width multipliers to sweep"),
    "width": _p("float", lambda v: 0 <= v <= MAX_WIDTH,
                f"0 (use widths) or a width in (0, {MAX_WIDTH:g}]", "one width (overrides widths)"),
    "epochs": _p("int", *_NONNEG, "training epochs"),
    "n_pairs": _p("int", *_NONNEG, "independently trained model pairs per width"),
    "weight_decay": _p("float", lambda v: v == -1 or v >= 0, "-1 (the profile's value) or >= 0",
                       "weight decay of training"),
    "device": _p("str", lambda v: v in ("auto", "cpu", "cuda") or
                 (v.startswith("cuda:") and v[5:].isdigit()), "auto, cpu, cuda or cuda:N",
                 "where to train and evaluate"),
    "profile": _p("str", PROFILE_NAMES, "one of " + ", ".join(PROFILE_NAMES), "cpu, paper or smoke"),
    "seed": _p("int", lambda v: v >= 0, ">= 0 (0: the book's seeds)",
               "offset added to every seed (models, calibration splits, permutations, directions)"),
}

# default limit on the estimated training time: a cold cpu book trains in about 20 min, but its
# estimate rests on one timing that runs several times high on a loaded machine (6x at load 12 on
# 2 cores); 8 h still stops the paper profile (weeks) or a mistyped epoch count before any work
MAX_TRAIN_MINUTES = 480.0
RUN = {  # how a run goes, not what it computes: accepted by every chapter, never a variant's name
    "max_train_minutes": _p("float", lambda v: v >= 0, ">= 0 (0: no limit)",
                            "stop before training when the estimated training time is above this"),
}

CHAPTERS = {
    "01": dict(count_widths=_p("floats", *_WIDTHS, "widths whose parameter counts are listed"),
               barrier_width=_p("float", lambda v: 0 <= v <= MAX_WIDTH, "0 or a width",
                                "width of the drawn pair"),
               perm_seed=_p("int", lambda v: v >= 0, ">= 0", "seed of the random permutation")),
    "02": dict(**_SECOND, lams=_p("int", *_ODD, "points on the lam grid"),
               c1_gap_pp=_p("float", *_POS, "C1 tolerance (pp)"),
               c2_cal_max=_p("float", *_POS, "C2 threshold (nats)")),
    "03": dict(n_perms=_p("int", lambda v: v >= 1, ">= 1", "random permutation draws per pair"),
               lams=_p("int", *_ODD, "points on the lam grid"),
               c3_tol_pp=_p("float", *_POS, "C3 tolerance (pp)")),
    "04": dict(**_SECOND, lams=_p("floats", lambda v: len(v) > 0 and all(0 <= x <= 1 for x in v),
                       "a non-empty list of values in [0, 1]", "lam values of the general check"),
               cos_threshold=_p("float", *_UNIT, "C4 cosine threshold"),
               decay_factor=_p("float", lambda v: v > 1, "> 1", "C11 tolerance factor")),
    "05": dict(**_SECOND, dims=_p("ints", lambda v: len(v) > 0 and all(d >= 1 for d in v),
                       "a non-empty list of integers >= 1", "Monte Carlo dimensions"),
               mc_elements=_p("int", lambda v: v >= 1, ">= 1", "Monte Carlo numbers per d"),
               mass=_p("float", *_UNIT, "share of sum s_i^2 held by active units"),
               bins=_p("int", lambda v: v >= 2, ">= 2", "histogram bins"),
               small_share=_p("float", *_UNIT, "C6 threshold"),
               wm_overlap=_p("float", *_UNIT, "C6 threshold")),
    "06": dict(**_SECOND, cos_threshold=_p("float", *_UNIT, "C7 cosine threshold")),
    "07": dict(wd_width=_p("float", lambda v: 0 <= v <= MAX_WIDTH, "0 or a width",
                           "width of the weight-decay sweep"),
               wd_values=_p("floats", lambda v: all(x >= 0 for x in v), "weight decays >= 0",
                            "weight decays to sweep")),
    "08": {},
    "09": dict(ts=_p("int", lambda v: v >= 2, ">= 2", "points t in [0, 1] per direction")),
    "10": dict(mlp_widths=_p("floats", *_WIDTHS, "Sophia, skip and BN MLP widths"),
               conv_plan=_p("dict", lambda v: set(v) <= {"vgg11", "resnet20"},
                            'keys vgg11 / resnet20, values lists of widths', "widths per conv net"),
               conv_pairs=_p("int", *_NONNEG, "conv net pairs"),
               conv_n_train=_p("int", *_NONNEG, "training images of the conv nets"),
               conv_lams=_p("int", *_ODD3, "lam grid of the conv nets"),
               lams=_p("int", *_ODD3, "lam grid of the MLPs"),
               sophia_lr=_p("float", *_POS, "learning rate of Sophia"),
               conv_dataset=_p("str", ("auto",) + _DATASETS, "auto or a data set",
                               "data set of the conv nets")),
    "11": dict(spawn_widths=_p("floats", *_WIDTHS, "widths of the spawning study"),
               lams=_p("int", *_ODD3, "lam grid of the spawning curves")),
    "12": dict(**_SECOND),
}


def schema(chapter: str | None = None, source: Path | None = None) -> dict:
    """The declared parameters of a chapter ("02"), or only the common ones when None; a chapter
    not in CHAPTERS (a new one) declares its own by the typed literals of its parameters cell."""
    if chapter in CHAPTERS or source is None:
        return {**COMMON, **CHAPTERS.get(chapter, {})} if chapter else dict(COMMON)
    return {**cell_schema(source), **COMMON}


def parameters_cell(source: Path) -> tuple[list, int]:
    """(statements of the chapter's parameters cell, number of parameters cells found); a syntax
    error anywhere in the chapter is a ParamError naming the file and the line."""
    text = Path(source).read_text()
    try:
        compile(text, str(source), "exec", dont_inherit=True)
    except SyntaxError as err:
        raise ParamError(syntax_message(Path(source), err)) from None
    cells = [c for c in text.split("\n# %%") if re.match(r'[^\n]*tags=\[[^\]]*"parameters"', c)]
    return (ast.parse(cells[0].split("\n", 1)[1]).body if len(cells) == 1 else []), len(cells)


def chapter_defaults(source: Path) -> dict:
    """The literal values of a chapter's parameters cell (name -> value)."""
    out = {}
    for node in parameters_cell(source)[0]:
        if isinstance(node, (ast.AnnAssign, ast.Assign)) and node.value is not None:
            target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0]
            try:
                out[target.id] = ast.literal_eval(node.value)
            except (ValueError, AttributeError):
                continue
    return out


def syntax_message(source: Path, err: SyntaxError) -> str:
    """'book/12_x.py line 40: invalid syntax (in the parameters cell): `width: float = = 1`'."""
    text = source.read_text().splitlines() if source.exists() else []
    line = err.lineno or 0
    start = max([i for i, t in enumerate(text[:line], 1) if t.startswith("# %%")] or [0])
    where = " (in the parameters cell)" if start and '"parameters"' in text[start - 1] else ""
    code = (err.text or (text[line - 1] if 0 < line <= len(text) else "")).strip()
    return (f"{source} line {line}: {err.msg}{where}: `{code}`; fix the chapter (a syntax error "
            "stops only this chapter)")


def cell_schema(source: Path) -> dict:
    """Params from a chapter's parameters cell: `name: int = 3  # meaning` (type checked only)."""
    body, found = parameters_cell(source)
    if found != 1:
        raise ParamError(f"{source} needs exactly one parameters cell; found {found}")
    kinds = {"str": "str", "int": "int", "float": "float", "list": "floats", "dict": "dict"}
    out = {}
    for node in body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.annotation, ast.Name):
            kind = kinds.get(node.annotation.id)
            if kind:
                out[node.target.id] = Param(kind, lambda v: True, f"a {node.annotation.id}", "")
    return out


def _bad(name, value, rule) -> ParamError:
    return ParamError(f"parameter {name} = {value!r} is not allowed: {name} must be {rule}")


def _number(name, value, rule, integer):
    """A finite int/float from a number or a numeric string (bools are not numbers)."""
    v = value
    if isinstance(v, str):
        try:
            v = float(v.strip())
        except ValueError:
            raise _bad(name, value, rule) from None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise _bad(name, value, rule)
    if integer:
        if v != int(v):
            raise _bad(name, value, f"a whole number, {rule}")
        return int(v)
    return float(v)


def _listed(name, value, rule):
    """A list from a list/tuple, a single number, or a string "0.5,1" / "[0.5, 1]"."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("[") and text.endswith("]"):
            text = text[1:-1]
        items = [t.strip() for t in text.split(",")] if text else []
        if any(t == "" for t in items):
            raise _bad(name, value, rule + ', written "0.5,1" or "[0.5, 1]"')
        return items
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [value]
    raise _bad(name, value, rule + ', written "0.5,1" or "[0.5, 1]"')


def _dict(name, value, rule):
    """A dict {net: [widths]} from a dict or its YAML text."""
    if isinstance(value, str):
        import yaml

        try:
            value = yaml.safe_load(value) or {}
        except yaml.YAMLError:
            raise _bad(name, value, rule) from None
    if not isinstance(value, dict):
        raise _bad(name, value, rule)
    return {k: [_number(f"{name}[{k}]", w, "a width", False) for w in _listed(name, v, rule)]
            for k, v in value.items()}


def _repeats(name: str, raw, widths) -> None:
    """A list of widths with a width twice: each pair would count twice in every trend test."""
    twice = sorted({w for w in widths if list(widths).count(w) > 1})
    if twice:
        raise ParamError(f"parameter {name} = {raw!r} repeats the width(s) {twice}: a repeated width "
                         "counts its pairs twice in every trend test over widths; give each width "
                         "once")


def parse(name: str, value, param: Param):
    """`value` converted to the parameter's type and checked against its range."""
    kind, allowed, rule, raw = param.kind, param.allowed, param.rule, value
    if kind == "str":
        if not isinstance(value, str):
            raise _bad(name, value, rule)
        ok = value in allowed if isinstance(allowed, tuple) else allowed(value)
    else:
        if kind in ("int", "float"):
            value = _number(name, value, rule, kind == "int")
        elif kind in ("floats", "ints"):
            value = [_number(name, v, rule, kind == "ints") for v in _listed(name, value, rule)]
        else:
            value = _dict(name, value, rule)
        ok = allowed(value)
    if not ok:
        raise _bad(name, raw, rule)
    if kind == "floats" and name.endswith("widths"):
        _repeats(name, raw, value)
    if kind == "dict":
        for net, widths in value.items():
            _repeats(f"{name}[{net}]", raw, widths)
    return value


def validate(params: dict, chapter: str | None = None, where: str = "",
             source: Path | None = None) -> dict:
    """Every parameter parsed and checked; an unknown name is an error listing the known ones."""
    known = {**schema(chapter, source), **RUN}
    check_injected(chapter)
    unknown = sorted(set(params) - set(known))
    if unknown:
        place = where or (f"chapter {chapter}" if chapter else "the chapters")
        raise ParamError(f"unknown parameter(s) {unknown} for {place}; its parameters are "
                         f"{sorted(known)}")
    return {k: parse(k, v, known[k]) for k, v in params.items()}


def checked(chapter: str, **own) -> tuple:
    """A chapter's own parameters, checked, in the order given (for the chapter's first cell)."""
    from lmc_lib.chapters import sizing

    values = validate(own, chapter)
    sizing.check_widths({**notebook.values(), **values})  # before any work, like Setup's widths
    return tuple(values[k] for k in own)


def variant(params: dict, given=None) -> dict:
    """What makes a run a variant: every parameter given with -p (`given`: their names; None: all
    of `params`), the profile included; a profile other than cpu is kept to name the folder.
    {} for the book's own run (no -p: PROFILE / --profile chooses the profile of the book)."""
    names = set(params) if given is None else set(given)
    picked = {k: v for k, v in params.items() if k in names and k not in RUN}
    if given is None and picked.get("profile") == "cpu":
        picked.pop("profile")
    if picked and params.get("profile", "cpu") != "cpu":
        picked["profile"] = params["profile"]
    return picked


_SAFE = re.compile(r"[A-Za-z0-9._+-]*")


def variant_name(stem: str, params: dict) -> str:
    """`02_width-width=0.5`: the folder of a variant run (bookbuild's and a JupyterLab kernel's);
    one folder per parameter set: a short hash of the exact values is added whenever the readable
    name does not spell them exactly (characters replaced, a long name cut)."""
    exact = [True]

    def fmt(v):
        if isinstance(v, (list, tuple)):
            return "_".join(fmt(x) for x in v) or "empty"
        if isinstance(v, dict):
            return "_".join(f"{k}_{fmt(x)}" for k, x in sorted(v.items())) or "empty"
        text = str(v)
        if isinstance(v, float):  # 0.5, 1, 1e-05; every digit a float needs (0.5000001)
            text = f"{v:g}" if float(f"{v:g}") == v else repr(v)
        if not _SAFE.fullmatch(text):
            exact[0] = False
        return re.sub(r"[^A-Za-z0-9._+-]", "_", text)

    name = stem + "-" + ",".join(f"{k}={fmt(v)}" for k, v in sorted(params.items()))
    if not exact[0] or len(name) > 120:
        digest = hashlib.sha256(repr(sorted(params.items())).encode()).hexdigest()[:8]
        name = name[:100] + "-" + digest
    return name


# --- inside a notebook kernel: the names papermill injected, checked like bookbuild checks them ---
_KERNEL: dict = {}  # this kernel's chapter ("02", from checked) and the injected cell already checked


def kernel_chapter() -> str | None:
    """The chapter number this kernel's chapter gave to `checked` / `validate`, if any."""
    return _KERNEL.get("chapter")


def check_injected(chapter: str | None = None) -> None:
    """In a notebook run by papermill: a -p name its parameters cell does not declare is an error
    (papermill itself only warns and runs the defaults); no-op outside a kernel."""
    if chapter:
        _KERNEL.setdefault("chapter", chapter)
    cells = notebook.cells()
    if cells is None or _KERNEL.get("checked") == cells[1]:
        return
    declared = set(notebook.assigned(cells[0])) | set(RUN)
    unknown = sorted(set(notebook.assigned(cells[1])) - declared)
    if unknown:
        place = f"chapter {_KERNEL['chapter']}" if _KERNEL.get("chapter") else "this notebook"
        raise ParamError(f"unknown parameter(s) {unknown} for {place} (given with papermill -p); "
                         f"its parameters are {sorted(declared)}")
    _KERNEL["checked"] = cells[1]


def left_defaults() -> bool:
    """In a kernel run by papermill: whether a -p value differs from the chapter's own (a limit on
    the estimated training time then applies); False outside a kernel or without -p."""
    found = notebook.cells()
    if found is None:
        return False
    own, injected = notebook.assigned(found[0]), notebook.assigned(found[1])
    return any(k not in RUN and (k not in own or own[k] != v) for k, v in injected.items())


def train_limit_minutes() -> float:
    """max_train_minutes: papermill's -p, else $MAX_TRAIN_MINUTES, else the default; 0: no limit."""
    value = notebook.values().get("max_train_minutes")
    if value is None:
        value = notebook.environ().get("MAX_TRAIN_MINUTES") or MAX_TRAIN_MINUTES
    return parse("max_train_minutes", value, RUN["max_train_minutes"])
