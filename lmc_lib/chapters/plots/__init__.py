"""The book's figures, one function per paper figure, in one style (style.py).

Submodules by chapter group: basics (data, training), and the per-topic modules the chapters
import from. Every figure is titled with dataset, model, profile, widths and number of pairs
(`Setup.title()`), and error bars are mean +- std over pairs.
"""
from lmc_lib.chapters.plots.basics import loss_curve, sample_grid  # noqa: F401
