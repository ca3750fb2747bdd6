"""Chapter 7's computed sentences: which of the paper's two weight-decay statements the barriers
support, and at which width of chapter 2's sweep C8's premise (LMC at the main weight decay) holds."""
from lmc_lib.chapters.studies import ch07

WDS = [0.0, 1e-4, 1e-3, 3e-3]


def _wd(acc, cal):
    """A hand-made chapter-7 result: per weight decay two pairs of barriers (the probes unused)."""
    per = {str(w): dict(acc_barrier=[a, a + 0.001], cal_barrier=[c, c + 0.001])
           for w, a, c in zip(WDS, acc, cal)}
    return dict(width=0.5, weight_decays=WDS, per_wd=per)


def test_the_barriers_direction_picks_the_paper_sentence_it_supports():
    falling, rising, flat = [0.3, 0.2, 0.1, 0.05], [0.05, 0.1, 0.2, 0.3], [0.1] * 4
    assert ch07.barrier_direction(_wd(falling, falling), "acc_barrier")[0] == "falls"
    assert ch07.barrier_direction(_wd(rising, rising), "cal_barrier")[0] == "rises"
    assert ch07.barrier_direction(_wd(flat, flat), "acc_barrier")[0] == "neither"
    text = ch07.directions_sentence(_wd(falling, rising), "This run")
    assert "Sec. 5.4" in text and "App. F.9" in text and text.startswith("This run (w = 1/2)")
    one = dict(width=0.5, weight_decays=WDS[:1], per_wd={"0.0": dict(acc_barrier=[0.1], cal_barrier=[0.1])})
    assert ch07.barrier_direction(one, "acc_barrier")[0] == "cannot tell"


def _main(barriers):
    widths = [0.25, 0.5, 1.0]
    return dict(widths=widths, lams=[0.0, 0.5, 1.0],
                none={repr(w): dict(acc_barrier_half=list(b)) for w, b in zip(widths, barriers)})


def test_where_c8_can_be_decided_reads_chapter_2s_sweep():
    found = ch07.lmc_by_width(_main([(0.2, 0.25), (0.05, 0.06), (0.005, 0.006)]))
    assert [a for _, a, _ in found] == [False, False, True]
    assert "from w = 1 on" in ch07.where_decidable(_main([(0.2, 0.25), (0.05, 0.06), (0.005, 0.006)]), 0.5)
    none = ch07.where_decidable(_main([(0.2, 0.25)] * 3), 0.5)
    assert "at no width" in none and "cannot be decided" in none
