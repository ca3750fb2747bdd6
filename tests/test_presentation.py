"""How library objects and texts read in the rendered book: Setup, Result blocks, verdict labels."""
from lmc_lib.chapters.experiment import Setup


def test_setup_repr_is_short_and_names_the_scale():
    s = Setup.from_params(profile="smoke", widths=[0.25, 0.5], n_pairs=2, device="cpu")
    text = repr(s)
    assert text.startswith("Setup(profile `smoke`") and text.endswith(")")
    assert "widths 1/4, 1/2" in text and "2 pairs" in text and "device cpu" in text
    assert "overrides" not in text and len(text) < 200
    md = s._repr_markdown_()
    assert md.startswith("**Setup:**") and "widths 1/4, 1/2" in md and "\n" not in md
    assert "variant" not in text and "variant `bn`" in s.but(variant="bn")._repr_markdown_()


def test_result_is_a_myst_admonition_classed_by_verdict(tmp_path, monkeypatch):
    from lmc_lib.chapters import report

    monkeypatch.setenv("LMC_RESULTS", str(tmp_path))
    good = report.record_verdict("C4", "04", "smoke", {"x": True}, {"acc_t1": [0.5, 0.725]})
    bad = report.record_verdict("C5", "05", "smoke", {"x": False}, {"gap_pp": 2.5})
    md = report.result_markdown([good])
    assert md.startswith("````{admonition} Result\n:class: tip lmc-result\n**C4**") and md.endswith("\n````")
    assert "acc_t1" not in md and "[0.5" not in md  # no Python names or list reprs
    both = report.result_markdown([good, bad])
    assert ":class: warning" in both and both.count("| check | quantity |") == 2


def test_the_result_table_lets_a_reader_rederive_each_check(tmp_path, monkeypatch):
    """Per check: the quantity's mean ± std over pairs per width, the rule as compared, p, outcome."""
    from lmc_lib.chapters import report
    from lmc_lib.lmc import claims

    monkeypatch.setenv("LMC_RESULTS", str(tmp_path))
    half = [[0.60, 0.62, 0.64], [0.80, 0.81, 0.82]]
    end = [[0.90, 0.90, 0.90], [0.83, 0.83, 0.83]]
    j = claims.c1([0.25, 1.0], half, end, gap_pp=2.0)
    rec = report.record_verdict("C1", "02", "smoke", {}, {}, judgement=j)
    md = report.result_markdown([rec])
    gap_row = next(line for line in md.splitlines() if line.startswith("| endpoint gap"))
    assert "w = 1/4: 62 ± 2 %" in md and "w = 1: 81.0 ± 1.0 %" in md  # 100 x mean, 100 x std (numfmt)
    assert "mean + std < 2 pp" in gap_row and gap_row.endswith("| no |")  # 2 ± 1 pp: 3 >= 2
    assert "2.0 ± 1.0 pp" in gap_row and "(core)" in md
    assert "p = " not in gap_row and "0.05" in md  # the trend row names its test level
    assert rec["sentences"][-1].startswith("Verdict: inconclusive") == (j.verdict == "inconclusive")


def test_verdict_texts_use_readable_notation():
    import numpy as np

    from lmc_lib.chapters import report
    from lmc_lib.lmc import claims

    labels = list(report.CLAIMS.values())
    labels += list(claims.c1([0.25, 0.5], [[0.5, 0.6], [0.7, 0.8]], [[0.9, 0.9]] * 2).checks)
    labels += list(claims.c10([0.25, 0.5], [[1, 2], [3, 4]], [[1, 1]] * 2).checks)
    pred = np.array([1, 0.5])
    labels += list(claims.c11([1, 2], [pred, pred], pred).checks)
    text = " ".join(labels)
    assert "λ = 1/2" in text and "$2^{-(l-1)}$" in text
    for raw in ("lam =", "2^-(", "2^(", "acc(1/2)", "beta(1/2)"):
        assert raw not in text, raw


def test_missing_record_names_the_real_chapter_and_dataset(capsys):
    from lmc_lib.chapters import record

    line = record.describe(None, "05", "mnist")
    assert "--chapters 05 --datasets mnist" in line and "NN" not in line
    assert record.show("05", "cifar100", [], profile="smoke") is None  # nothing recorded for smoke
    assert "--chapters 05 --datasets cifar100" in capsys.readouterr().out


def test_relative_results_folder_is_made_absolute_against_the_current_folder(tmp_path, monkeypatch):
    from lmc_lib.chapters import report

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LMC_RESULTS", "rel/res")
    found = report.results_dir("smoke")
    assert found.is_absolute() and found == tmp_path / "rel" / "res" / "smoke"
    monkeypatch.chdir("/")
    assert report.results_dir("smoke") == __import__("pathlib").Path("/rel/res/smoke")


def test_hypothesis_figure_fits_the_page_like_the_other_figures():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from lmc_lib.chapters import hypothesis
    from lmc_lib.chapters.plots import style

    panels = {f"q{i}": np.ones((2, 3)) * i for i in range(3)}
    fig = hypothesis.plot_widths([0.25, 0.5, 1.0], panels, "title")
    w, h = fig.get_size_inches()
    assert w <= style.PAGE_W + 1e-9 and len([a for a in fig.axes if a.get_visible() and a.axison]) == 3
    assert h > style.PANEL_H  # three panels wrap onto two rows instead of widening the figure
    plt.close(fig)


def test_the_index_scale_reads_widths_not_pair_counts():
    from lmc_lib.chapters import report
    recs = {"C7": [{"setting": "VGG-11 (BN) at w = 1/8, 1/4, 1 pair(s); MLP at w = 1/8, 1/2, 3 pairs"}],
            "C1": [{"setting": "MNIST | MLP | profile cpu | w = 1/8, 4 | 3 pairs | epochs 3"}]}
    assert report._scale(recs) == "w = 1/8 to 4 (each verdict: its own); 1-3 pairs; 3 epochs"
