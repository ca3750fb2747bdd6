"""'What this chapter found' interprets the verdicts: what held, where it broke (the failing
check and its number), what follows for the paper's argument, and a regime hook; it never repeats
a record's verdict sentence."""
from lmc_lib.chapters import findings, resultview
from lmc_lib.lmc import claims


def record(claim, j, dataset="mnist", profile="cpu"):
    return dict(claim=claim, verdict=j.verdict, checks=j.checks, core=list(j.core),
                rows=list(j.rows.values()), sentences=list(j.sentences), dataset=dataset,
                profile=profile, chapter="02", setting="")


def two_claims():
    ws = [0.25, 1.0, 4.0]
    good = claims.c1(ws, [[0.6, 0.61, 0.62], [0.8, 0.81, 0.82], [0.9, 0.9, 0.91]],
                     [[0.91, 0.91, 0.91]] * 3)
    bad = claims.c2(ws, [[0.1, 0.11, 0.12], [0.2, 0.21, 0.22], [0.3, 0.31, 0.32]],
                    [[2.0, 2.1, 2.2]] * 3)  # the calibrated barrier rises: the core check fails
    return [record("C1", good), record("C2", bad)]


def test_it_interprets_and_does_not_repeat_the_verdict_lines():
    recs = two_claims()
    text = resultview.found_markdown(recs, {})
    assert "C1 on MNIST held" in text and "C2 on MNIST did not hold" in text
    assert "“calibrated barrier falls with width” failed" in text and "0.310 ± 0.010" in text
    assert "does not support the phenomenon" in text  # C2 fails, so the step is not supported
    for r in recs:
        assert r["sentences"][-1] not in text and "Verdict:" not in text


def test_the_argument_step_is_only_as_strong_as_its_weakest_claim():
    good = two_claims()[0]
    assert "this run supports the phenomenon" in findings.argument_sentence([good])
    both = findings.argument_sentence(two_claims())
    assert both.startswith("For the paper's argument, this run does not support")


def test_the_regime_hook_adds_one_sentence_per_claim():
    recs = two_claims()
    text = findings.found_markdown(recs, regime=lambda r: f"{r['claim']} speaks for the cpu regime.")
    assert text.count("speaks for the cpu regime.") == 2
    assert findings.found_markdown(recs, regime=lambda r: None) == findings.found_markdown(recs)
