"""Inside a notebook kernel: the parameters cell and papermill's injected-parameters cell as the
kernel ran them (IPython's input history), so the library can check what papermill injected."""
from __future__ import annotations

import ast
import os
import sys


def shell():
    """The IPython shell this code runs in (a notebook kernel), else None."""
    ipython = sys.modules.get("IPython")
    return ipython.get_ipython() if ipython is not None else None


def cells() -> tuple[str, str] | None:
    """(parameters cell, papermill's injected-parameters cell) as this kernel ran them, else None."""
    ip = shell()
    history = list(ip.user_ns.get("In", [])) if ip is not None else []
    for i in range(len(history) - 1, 1, -1):  # In[0] is empty; no parameters cell before In[1]
        if history[i].startswith("# Parameters\n"):  # the cell papermill injects (python)
            return history[i - 1], history[i]
    return None


def assigned(code: str) -> dict:
    """name -> literal value (None when not a literal) of a cell's top-level assignments."""
    try:
        body = ast.parse(code).body
    except SyntaxError:
        return {}
    out = {}
    for node in body:
        targets = [node.target] if isinstance(node, ast.AnnAssign) else getattr(node, "targets", [])
        for target in (t for t in targets if isinstance(t, ast.Name)):
            try:
                out[target.id] = ast.literal_eval(node.value)
            except (ValueError, TypeError, SyntaxError):
                out[target.id] = None
    return out


def values() -> dict:
    """This kernel's parameters: the parameters cell's, with papermill's injected ones over them."""
    found = cells()
    return {**assigned(found[0]), **assigned(found[1])} if found else {}


def environ() -> os._Environ:
    """The process environment (one place to read it from, for the kernel's run settings)."""
    return os.environ
