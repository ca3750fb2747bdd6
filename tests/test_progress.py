"""Progress while a model or a group trains: a line after an epoch in the training log, at most one
every runlog.PROGRESS_EVERY_S seconds, none after the last epoch (the trained line follows)."""
import pytest
from test_train_group import TOY

from lmc_lib.core import runlog, train
from lmc_lib.core import train_group as tg
from lmc_lib.core.config import TrainConfig

pytestmark = pytest.mark.usefixtures("one_thread")
MLP = TrainConfig(dataset="toy", width=1 / 16, epochs=3, batch_size=64)


@pytest.fixture
def log(tmp_path, monkeypatch):
    monkeypatch.setenv(runlog.LOG_ENV, str(tmp_path / "train.log"))
    return tmp_path / "train.log"


def test_a_line_at_most_once_per_interval_and_never_after_the_last_epoch(log, monkeypatch):
    monkeypatch.setattr(runlog, "PROGRESS_EVERY_S", 60.0)
    now = [0.0]
    report = runlog.epoch_reporter(MLP.replace(epochs=10), 10, clock=lambda: now[0])
    reported = []
    for epoch in range(1, 11):
        now[0] += 25.0  # 25 s per epoch
        before = log.read_text() if log.exists() else ""
        report(epoch, 0.5, 0.8)
        if (log.read_text() if log.exists() else "") != before:
            reported.append(epoch)
    assert reported == [3, 6, 9]  # 75 s after the start, then 75 s after each line; 10 is the last
    lines = log.read_text().splitlines()
    assert lines[0].startswith("epoch 3/10 toy mlp/plain w=0.0625 seed=0 loss=0.5000")
    assert "75s so far, about 175s to go" in lines[0] and "[adam lr=0.001" in lines[0]


def test_both_trainers_log_their_epochs_in_the_training_log(log, monkeypatch):
    monkeypatch.setattr(runlog, "PROGRESS_EVERY_S", 0.0)
    tg.train_group([MLP.replace(seed=s) for s in (0, 1)], "cpu", progress=True, data=TOY)
    lines = log.read_text().splitlines()
    assert [line.split(" toy")[0] for line in lines] == ["epoch 1/3", "epoch 2/3", "trained", "trained"]
    assert all("seeds=0,1 (means)" in line for line in lines[:2])
    log.write_text("")
    train.train(MLP.replace(variant="bn"), "cpu", progress=True, data=TOY)  # the single trainer
    lines = log.read_text().splitlines()
    assert [line.split(" toy")[0] for line in lines] == ["epoch 1/3", "epoch 2/3", "trained"]
    assert "mlp/bn" in lines[0] and "seed=0 loss=" in lines[0]


def test_a_build_echoes_each_chapters_training_log_line_by_line(tmp_path, capsys):
    from lmc_lib.build import buildrun

    log = tmp_path / "12_mine.log"
    job = buildrun.Job(tmp_path / "12_mine.py", {}, tmp_path / "d", tmp_path / "f", log)
    buildrun._echo_log(job)  # no log yet: nothing
    log.write_text("epoch 1/3 a\nepoch 2/3 b\ntrained c")  # the last line is still being written
    buildrun._echo_log(job)
    with open(log, "a") as f:
        f.write(" done\n")
    buildrun._echo_log(job)
    buildrun._echo_log(job)
    assert capsys.readouterr().out.splitlines() == [
        "  12_mine: epoch 1/3 a", "  12_mine: epoch 2/3 b", "  12_mine: trained c done"]
