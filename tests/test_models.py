"""Tests of lmc_lib.core.models: shapes, exact parameter counts (hidden grow as w^2), readout, errors."""
import pytest
import torch

from lmc_lib.core.models import ARCHS, MLP_VARIANTS, ModelError, build_model, clone_architecture, has_batchnorm, scaled

WIDTHS = (1 / 8, 1, 2)



pytestmark = pytest.mark.usefixtures("one_thread")

def n_params(model):
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters())


def mlp_count(w, in_features=784, n_classes=10, variant="plain"):
    """Exact MLP parameter count: 3 hidden layers of 512 w units (+ BN affine for 'bn')."""
    h = int(round(512 * w))
    weights = in_features * h + 2 * h * h + h * n_classes
    return weights + 3 * h + n_classes + (6 * h if variant == "bn" else 0)


def vgg_count(w, c_in=3, n_classes=10):
    """Exact VGG-11 count: bias-free 3x3 convs, BN affine per conv, linear head."""
    total = 0
    for base in (64, 128, 256, 256, 512, 512, 512, 512):
        c = int(round(base * w))
        total += c_in * c * 9 + 2 * c
        c_in = c
    return total + c_in * n_classes + n_classes


def resnet_count(w, c_in=3, n_classes=10):
    """Exact ResNet-20 count: stem, 9 basic blocks, 1x1 shortcut + BN where shapes change, head."""
    c = [int(round(b * w)) for b in (16, 32, 64)]
    total, prev = c_in * c[0] * 9 + 2 * c[0], c[0]
    for stage, ch in enumerate(c):
        for b in range(3):
            total += prev * ch * 9 + ch * ch * 9 + 4 * ch
            if stage > 0 and b == 0:  # stride 2: 1x1 projection shortcut
                total += prev * ch + 2 * ch
            prev = ch
    return total + prev * n_classes + n_classes


@pytest.mark.parametrize("variant", MLP_VARIANTS)
@pytest.mark.parametrize("w", WIDTHS)
def test_mlp_shapes_and_counts(variant, w):
    model = build_model("mlp", w, variant=variant).eval()
    assert model(torch.randn(3, 1, 28, 28)).shape == (3, 10)
    assert n_params(model) == mlp_count(w, variant=variant)
    assert model.fcs[1].weight.numel() == (512 * w) ** 2  # hidden layer grows as w^2
    assert has_batchnorm(model) == (variant == "bn")


@pytest.mark.parametrize("w", (1 / 8, 1))
@pytest.mark.parametrize("c_in", (1, 3))
@pytest.mark.parametrize("arch", ("vgg11", "resnet20"))
def test_conv_shapes(arch, c_in, w):
    model = build_model(arch, w, in_channels=c_in, image_size=32, n_classes=7).eval()
    assert model(torch.randn(2, c_in, 32, 32)).shape == (2, 7)
    count = vgg_count if arch == "vgg11" else resnet_count
    assert n_params(model) == count(w, c_in, 7)
    assert has_batchnorm(model)


@pytest.mark.parametrize("arch,count", (("vgg11", vgg_count), ("resnet20", resnet_count)))
def test_conv_counts_at_width_2(arch, count):
    model = build_model(arch, 2, in_channels=3, image_size=32)  # no forward: w=2 VGG is slow on CPU
    assert n_params(model) == count(2)
    mid = model.convs[5] if arch == "vgg11" else model.blocks[8].conv2
    base = 512 if arch == "vgg11" else 64
    assert mid.weight.numel() == 9 * (base * 2) ** 2


def test_hidden_counts_grow_as_width_squared():
    sizes = {w: build_model("resnet20", w, in_channels=3, image_size=32).blocks[4].conv2.weight.numel()
             for w in (1 / 4, 1 / 2, 1)}
    assert sizes[1 / 2] == 4 * sizes[1 / 4] and sizes[1] == 4 * sizes[1 / 2]


def test_resnet_runs_on_fashion_mnist_padded_and_gray():
    model = build_model("resnet20", 1 / 8, in_channels=1, image_size=28).eval()
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)


CASES = [("mlp", dict(variant=v), (3, 1, 28, 28)) for v in MLP_VARIANTS] + [
    ("vgg11", dict(in_channels=3, image_size=32), (2, 3, 32, 32)),
    ("resnet20", dict(in_channels=1, image_size=32), (2, 1, 32, 32)),
]
DEPTH = {"mlp": 4, "vgg11": 9, "resnet20": 20}


@pytest.mark.parametrize("arch,kw,shape", CASES)
@pytest.mark.parametrize("mode", ("eval", "train"))
def test_readout_matches_forward_and_weight_layers(arch, kw, shape, mode):
    torch.manual_seed(0)
    model = build_model(arch, 1 / 8, **kw)
    model.train(mode == "train")
    x = torch.randn(*shape)
    with torch.no_grad():
        layers, logits, wl = model.readout(x), model(x), model.weight_layers()
        assert len(layers) == len(wl) == DEPTH[arch]
        torch.testing.assert_close(layers[-1].out, logits)
        assert torch.equal(layers[-1].pre, layers[-1].out)
        for layer, module in zip(layers, wl):
            assert isinstance(module, (torch.nn.Linear, torch.nn.Conv2d))
            torch.testing.assert_close(module(layer.inp), layer.pre)
        for prev, nxt in zip(layers[:-1], layers[1:-1]):
            assert nxt.inp.shape[1] == prev.out.shape[1]  # channels chain (pooling between is allowed)


@pytest.mark.parametrize("arch,kw,shape", CASES)
def test_build_kwargs_rebuild_same_architecture(arch, kw, shape):
    model = build_model(arch, 1 / 8, **kw)
    again = build_model(**model.build_kwargs)
    assert [p.shape for p in again.parameters()] == [p.shape for p in model.parameters()]
    assert clone_architecture(model).build_kwargs == model.build_kwargs
    assert (model.arch, model.width, model.variant) == (arch, 1 / 8, kw.get("variant", "plain"))


@pytest.mark.parametrize("width", (0, -1, -0.5, float("nan"), "1", None))
def test_bad_width_raises(width):
    with pytest.raises(ModelError, match="width"):
        build_model("mlp", width)


def test_unknown_arch_and_bad_variant_raise():
    with pytest.raises(ModelError, match="unknown arch 'vgg16'"):
        build_model("vgg16", 1)
    with pytest.raises(ModelError, match="variant 'wide'"):
        build_model("mlp", 1, variant="wide")
    with pytest.raises(ModelError, match="variant 'skip'"):
        build_model("resnet20", 1, in_channels=3, image_size=32, variant="skip")
    with pytest.raises(ModelError, match="pad_to=32"):
        build_model("vgg11", 1, image_size=28)
    assert set(ARCHS) == {"mlp", "vgg11", "resnet20"}


@pytest.mark.parametrize("arch", ARCHS)
def test_tiny_fractional_width_keeps_one_unit(arch):
    model = build_model(arch, 1e-4, in_channels=1, image_size=32)
    for module in model.weight_layers()[:-1]:
        assert module.weight.shape[0] >= 1
    assert scaled(512, 1e-4) == 1 and scaled(512, 1 / 16) == 32 and scaled(16, 1 / 8) == 2
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 10)
