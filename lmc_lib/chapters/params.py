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
}


def schema(chapter: str | None = None, source: Path | None = None) -> dict:
    """The declared parameters of a chapter ("02"), or only the common ones when None; a chapter
    not in CHAPTERS (a new one) declares its own by the typed literals of its parameters cell."""
    if chapter in CHAPTERS or source is None:
        return {**COMMON, **CHAPTERS.get(chapter, {})} if chapter else dict(COMMON)
    return {**cell_schema(source), **COMMON}


def parameters_cell(source: Path) -> tuple[list, int]:
    """(statements of the chapter's parameters cell, number of parameters cells found)."""
    text = Path(source).read_text()
    cells = [c for c in text.split("\n# %%") if re.match(r'[^\n]*tags=\[[^\]]*"parameters"', c)]
    return (ast.parse(cells[0].split("\n", 1)[1]).body if len(cells) == 1 else []), len(cells)


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
    return value


def validate(params: dict, chapter: str | None = None, where: str = "",
             source: Path | None = None) -> dict:
    """Every parameter parsed and checked; an unknown name is an error listing the known ones."""
    known = schema(chapter, source)
    unknown = sorted(set(params) - set(known))
    if unknown:
        place = where or (f"chapter {chapter}" if chapter else "the chapters")
        raise ParamError(f"unknown parameter(s) {unknown} for {place}; its parameters are "
                         f"{sorted(known)}")
    return {k: parse(k, v, known[k]) for k, v in params.items()}


def checked(chapter: str, **own) -> tuple:
    """A chapter's own parameters, checked, in the order given (for the chapter's first cell)."""
    values = validate(own, chapter)
    return tuple(values[k] for k in own)


def variant(params: dict) -> dict:
    """The parameters that make a run a variant (every one given but a cpu profile); {} for the book's own run."""
    given = {k: v for k, v in params.items() if k != "profile" or v != "cpu"}
    return given if set(given) - {"profile"} else {}


def variant_name(stem: str, params: dict) -> str:
    """`02_width-width=0.5`: the folder of a variant run (bookbuild's and a JupyterLab kernel's)."""
    def fmt(v):
        if isinstance(v, (list, tuple)):
            return "_".join(fmt(x) for x in v) or "empty"
        if isinstance(v, dict):
            return "_".join(f"{k}_{fmt(x)}" for k, x in sorted(v.items())) or "empty"
        return f"{v:g}" if isinstance(v, float) else str(v)

    name = stem + "-" + ",".join(f"{k}={fmt(v)}" for k, v in sorted(params.items()))
    name = re.sub(r"[^A-Za-z0-9._=,+-]", "_", name)
    if len(name) > 120:
        name = name[:100] + "-" + hashlib.sha256(name.encode()).hexdigest()[:12]
    return name
