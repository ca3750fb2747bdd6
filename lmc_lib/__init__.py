"""lmc_lib: the tested library under the lmc-book chapters (see docs/CONTRACT.md)."""

__version__ = "0.1.0"
