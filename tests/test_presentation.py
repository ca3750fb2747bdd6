"""How library objects and texts read in the rendered book: Setup, Result blocks, verdict labels."""
from lmc_lib.experiment import Setup


def test_setup_repr_is_short_and_names_the_scale():
    s = Setup.from_params(profile="smoke", widths=[0.25, 0.5], n_pairs=2, device="cpu")
    text = repr(s)
    assert text.startswith("Setup(profile `smoke`") and text.endswith(")")
    assert "widths 1/4, 1/2" in text and "2 pairs" in text and "device cpu" in text
    assert "overrides" not in text and len(text) < 200
    md = s._repr_markdown_()
    assert md.startswith("**Setup:**") and "widths 1/4, 1/2" in md and "\n" not in md
    assert "variant" not in text and "variant `bn`" in s.but(variant="bn")._repr_markdown_()
