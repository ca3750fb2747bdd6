"""Widths that a chapter's own parameters train (chapter 10's conv_plan and mlp_widths, chapter 11's
spawn_widths, chapter 7's wd_width), sized against the device's memory before any work, like the
common widths are by Setup.check_resources: a width that does not fit is refused with the largest
one that does."""
from __future__ import annotations

from lmc_lib.core import budget
from lmc_lib.core.config import make_config
from lmc_lib.core.utils import resolve_device

MLP_WIDTH_PARAMS = ("mlp_widths", "spawn_widths", "wd_width", "barrier_width")


def planned_widths(values: dict) -> list[tuple[str, str, float]]:
    """(parameter, architecture, width) of every width a chapter's own parameters ask to train."""
    out = [("conv_plan", arch, float(w)) for arch, ws in (values.get("conv_plan") or {}).items()
           for w in ws]
    for name in MLP_WIDTH_PARAMS:
        value = values.get(name)
        ws = value if isinstance(value, (list, tuple)) else [value] if value else []
        out += [(name, "mlp", float(w)) for w in ws if w]
    return out


def check_widths(values: dict, free: int | None = None) -> None:
    """Refuse (budget.ResourceError naming the parameter) a width of `values` whose training does
    not fit the device (values' profile, dataset, device); conv nets sized on 32x32 colour images."""
    profile = values.get("profile") or "cpu"
    dataset = values.get("dataset") or "fashion_mnist"
    device = resolve_device(values.get("device") or "auto")
    for name, arch, width in planned_widths(values):
        data = dataset if arch == "mlp" else (values.get("conv_dataset") or "auto")
        data = "cifar10" if data == "auto" else data
        try:
            budget.check(make_config(profile, data, arch, width), device, free)
        except budget.ResourceError as err:
            raise budget.ResourceError(f"parameter {name}: {err}") from None
