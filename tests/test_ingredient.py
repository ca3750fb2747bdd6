"""A chapter's training ingredient (lmc_lib.core.ingredient): keyed by name and source, honoured by
both trainers (the stacked one too), shown in the log and `cache ls`; the book's keys unchanged."""
import hashlib
import json

import pytest
import torch
import torch.nn.functional as F
from test_train_group import TOY, same_weights

from lmc_lib.build import bookbuild
from lmc_lib.chapters import executor, hypothesis
from lmc_lib.chapters.experiment import Setup
from lmc_lib.core import cache, ingredient, runlog, train
from lmc_lib.core import train_group as tg
from lmc_lib.core.config import TrainConfig
from lmc_lib.core.ingredient import Ingredient
from lmc_lib.core.utils import LmcError

pytestmark = pytest.mark.usefixtures("one_thread")
MLP = TrainConfig(dataset="toy", width=1 / 16, epochs=2, batch_size=64, lr=1e-3)
CALLS = []

# The key formula before ingredients, written out: every field but these, at their defaults
# (momentum 0.9, Nesterov) left out, with recipe version 2 (a bump changes every key on purpose).
OLD_FIELDS = ("dataset", "arch", "variant", "width", "seed", "init_seed", "epochs", "batch_size",
              "optimizer", "lr", "momentum", "nesterov", "schedule", "warmup_epochs",
              "weight_decay", "augment", "precision", "bias", "n_train", "compile")


def old_key(c: TrainConfig) -> str:
    fields = {k: getattr(c, k) for k in OLD_FIELDS
              if not (k == "momentum" and c.momentum == 0.9) and not (k == "nesterov" and c.nesterov)}
    blob = json.dumps({"recipe": 2, **fields}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def smoothed(logits, y):
    CALLS.append(len(y))
    return F.cross_entropy(logits, y, label_smoothing=0.2)


def plain_ce(logits, y):
    return F.cross_entropy(logits, y)


def noise(x, gen):
    return x + 0.5 * torch.randn(x.shape, generator=gen, device=x.device)


def halve(model):
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(0.5)


def with_(config, kind, fn):
    return config.replace(ingredients=(Ingredient(kind, fn.__name__, kind + "0", fn),))


def test_the_books_planned_configs_keep_the_keys_of_the_formula_before_ingredients():
    assert TrainConfig().key() == old_key(TrainConfig())
    sources = bookbuild.chapters(None)
    for profile, n in (("cpu", 170), ("paper", 0), ("smoke", 0)):
        configs = executor.book_configs(sources, bookbuild.check_parameters(sources, {}, profile))
        assert len(configs) >= n and configs
        assert [c.key() for c in configs] == [old_key(c) for c in configs]
        assert all("ingredients" not in c.to_dict() for c in configs)


def test_an_ingredient_enters_the_key_by_kind_name_and_digest_only():
    a = with_(MLP, "loss", smoothed)
    assert a.key() != MLP.key() and a.key() == with_(MLP, "loss", smoothed).key()
    assert a.key() == a.replace(ingredients=(Ingredient("loss", "smoothed", "loss0", plain_ce),)).key()
    assert a.key() != a.replace(ingredients=(Ingredient("loss", "smoothed", "other", smoothed),)).key()
    assert a.to_dict()["ingredients"] == [dict(kind="loss", name="smoothed", digest="loss0")]
    assert TrainConfig(**a.to_dict()) == a  # a sidecar's config rebuilds (without the function)
    with pytest.raises(LmcError, match="has no function"):
        train.check_config(TrainConfig(**a.to_dict()))
    with pytest.raises(LmcError, match="one ingredient per kind"):
        MLP.replace(ingredients=(a.ingredients[0], a.ingredients[0]))


def test_trap3_the_stacked_trainer_calls_the_loss_and_equals_the_single_trainer():
    config = with_(MLP, "loss", smoothed)
    CALLS.clear()
    (model, metrics), = tg.train_group([config], "cpu", progress=False, data=TOY)
    assert CALLS and all(n == 64 for n in CALLS)  # once per member and step
    (plain, _), = tg.train_group([MLP], "cpu", progress=False, data=TOY)
    assert not same_weights(model, plain)
    solo, _ = train.train(config, "cpu", progress=False, data=TOY)
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, solo.state_dict()[name], rtol=1e-5, atol=1e-6)


def test_a_loss_ingredient_equal_to_the_recipes_trains_the_recipes_model():
    (model, _), = tg.train_group([with_(MLP, "loss", plain_ce)], "cpu", progress=False, data=TOY)
    (plain, _), = tg.train_group([MLP], "cpu", progress=False, data=TOY)
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, plain.state_dict()[name], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind,fn", [("transform", noise), ("init", halve)])
def test_transform_and_init_are_honoured_by_both_trainers_member_by_member(kind, fn):
    configs = [with_(MLP, kind, fn).replace(seed=s) for s in (0, 1)]
    grouped = tg.train_group(configs, "cpu", progress=False, data=TOY)
    (plain, _), = tg.train_group([MLP], "cpu", progress=False, data=TOY)
    assert not same_weights(grouped[0][0], plain)
    for config, (model, _) in zip(configs, grouped):
        solo, _ = train.train(config, "cpu", progress=False, data=TOY)
        for name, value in model.state_dict().items():
            torch.testing.assert_close(value, solo.state_dict()[name], rtol=1e-5, atol=1e-6)


def test_ingredients_that_break_their_contract_are_refused():
    def per_sample(logits, y):
        return F.cross_entropy(logits, y, reduction="none")

    def grow(model):
        model.extra = torch.nn.Linear(2, 2)

    def crop(x, gen):
        return x[:, :, 1:]
    for kind, fn, match in (("loss", per_sample, "mean loss"), ("init", grow, "architecture"),
                            ("transform", crop, "shape")):
        with pytest.raises(LmcError, match=match):
            tg.train_group([with_(MLP, kind, fn)], "cpu", progress=False, data=TOY)
    with pytest.raises(LmcError, match="a def, not a lambda"):
        hypothesis.ingredient("loss", lambda logits, y: logits.sum())


@pytest.fixture
def smoke_setup(tmp_path, monkeypatch):
    monkeypatch.setenv("LMC_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv(runlog.LOG_ENV, str(tmp_path / "train.log"))
    return Setup.from_params(profile="smoke", widths=[1 / 16], n_pairs=1)


def chapter_loss(body: str):
    """A loss defined as a chapter cell defines it (no source file), with this body."""
    ns = {"F": F}
    exec(compile(f"def my_loss(logits, y):\n    return {body}\n", "<cell>", "exec"), ns)
    return ns["my_loss"]


def test_editing_an_ingredient_retrains_and_reverting_finds_the_old_models(smoke_setup, tmp_path):
    first = hypothesis.trained_with(smoke_setup, loss=chapter_loss("F.cross_entropy(logits, y, label_smoothing=0.1)"))
    edited = hypothesis.trained_with(smoke_setup, loss=chapter_loss("F.cross_entropy(logits, y, label_smoothing=0.3)"))
    reverted = hypothesis.trained_with(smoke_setup, loss=chapter_loss("F.cross_entropy(logits, y, label_smoothing=0.1)"))
    keys = [s.config(1 / 16).key() for s in (first, edited, reverted)]
    assert keys[0] != keys[1] and keys[0] == keys[2] != smoke_setup.config(1 / 16).key()
    (a, _), = first.pairs(1 / 16)
    (b, _), = edited.pairs(1 / 16)
    log = (tmp_path / "train.log").read_text()
    assert log.count("loss=my_loss@") == 4 and not same_weights(a, b)
    (again, _), = reverted.pairs(1 / 16)
    assert (tmp_path / "train.log").read_text() == log and same_weights(a, again)  # nothing trained
    table = cache.format_table(cache.entries())
    assert table.count("loss=my_loss@") == 4
    assert "ingredients" not in hypothesis.trained_with(smoke_setup, lr=1e-2).config(1 / 16).to_dict()


def test_trained_with_names_the_ingredients_and_keeps_other_kinds(smoke_setup):
    with pytest.raises(LmcError, match=r"\['los'\] is not a training setting.*'loss'"):
        hypothesis.trained_with(smoke_setup, los=smoothed)
    both = hypothesis.trained_with(hypothesis.trained_with(smoke_setup, loss=smoothed), init=halve)
    kinds = [i.kind for i in both.config(1 / 16).ingredients]
    assert kinds == ["init", "loss"]
    assert "init=halve@" in hypothesis.recipe_of(both) and "loss=smoothed@" in hypothesis.recipe_of(both)
    assert ingredient.function(both.config(1 / 16), "loss") is smoothed


def test_steps_per_model_counts_optimiser_steps(smoke_setup):
    c = smoke_setup.config(1 / 16)
    assert hypothesis.steps_per_model(smoke_setup) == c.epochs * (c.n_train // c.batch_size)
    small = hypothesis.trained_with(smoke_setup, batch_size=c.batch_size // 4)
    assert hypothesis.steps_per_model(small) == 4 * hypothesis.steps_per_model(smoke_setup)
