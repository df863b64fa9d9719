"""In-house VGG-BN / ResNet: torchvision's state-dict keys, shapes, counts and module order.

Every model here is built on the meta device (no memory), once per module.
"""
import pytest
import torch

from luckbench.empirical import architectures as A
from luckbench.empirical.bn_audit import PUBLISHED_PCT_NONPOSITIVE
from luckbench.errors import InputError

TORCHVISION = ("vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn", "resnet18", "resnet34", "resnet50", "resnet101")

# num_params of torchvision's ImageNet models (pytorch.org/vision model pages).
PARAMS = {"vgg11_bn": 132_868_840, "vgg13_bn": 133_053_736, "vgg16_bn": 138_365_992,
          "vgg19_bn": 143_678_248, "resnet18": 11_689_512, "resnet34": 21_797_672,
          "resnet50": 25_557_032, "resnet101": 44_549_160}
# (BN layers, BN channels): VGG from docs/experiments.md; ResNet counted by hand from the block layout
# (resnet18: stem 64 + 4x64 + 4x128+128 + 4x256+256 + 4x512+512 = 4,800).
BN = {"vgg11_bn": (8, 2752), "vgg13_bn": (10, 2944), "vgg16_bn": (13, 4224), "vgg19_bn": (16, 5504),
      "resnet18": (20, 4800), "resnet34": (36, 8512)}

RESNET18_BN_ORDER = [
    "bn1",
    "layer1.0.bn1", "layer1.0.bn2", "layer1.1.bn1", "layer1.1.bn2",
    "layer2.0.bn1", "layer2.0.bn2", "layer2.0.downsample.1", "layer2.1.bn1", "layer2.1.bn2",
    "layer3.0.bn1", "layer3.0.bn2", "layer3.0.downsample.1", "layer3.1.bn1", "layer3.1.bn2",
    "layer4.0.bn1", "layer4.0.bn2", "layer4.0.downsample.1", "layer4.1.bn1", "layer4.1.bn2",
]


@pytest.fixture(scope="module")
def meta_models():
    return {name: A.build(name, "meta") for name in A.ARCHS}


@pytest.mark.parametrize("arch", TORCHVISION)
def test_parameter_counts_match_torchvision(meta_models, arch):
    assert sum(p.numel() for p in meta_models[arch].parameters()) == PARAMS[arch]


@pytest.mark.parametrize("arch", sorted(BN))
def test_bn_layer_and_channel_counts(meta_models, arch):
    layers = A.bn_layers(meta_models[arch])
    assert (len(layers), sum(m.num_features for _, m in layers)) == BN[arch]


def test_resnet18_bn_module_order_is_torchvisions():
    assert [name for name, _ in A.bn_layers(A.build("resnet18", "meta"))] == RESNET18_BN_ORDER


@pytest.mark.parametrize("arch", sorted(PUBLISHED_PCT_NONPOSITIVE))
def test_published_percentages_are_whole_channel_counts(meta_models, arch):
    """Each published % of n_channels must be an integer count up to the 2-decimal rounding."""
    layers = A.bn_layers(meta_models[arch])
    published = PUBLISHED_PCT_NONPOSITIVE[arch]
    assert len(layers) == len(published)
    for (_, bn), pct in zip(layers, published):
        count = pct * bn.num_features / 100
        assert abs(count - round(count)) <= 0.005 * bn.num_features / 100 + 1e-9


def test_state_dict_keys_and_shapes_spot_checks(meta_models):
    sd = {a: {k: tuple(v.shape) for k, v in meta_models[a].state_dict().items()} for a in TORCHVISION}
    assert list(sd["resnet18"])[:7] == ["conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean",
                                        "bn1.running_var", "bn1.num_batches_tracked", "layer1.0.conv1.weight"]
    assert len(sd["resnet18"]) == 122  # 62 parameters + 3 buffers x 20 BN layers
    assert len(sd["resnet50"]) == 320  # 161 parameters + 3 buffers x 53 BN layers
    assert sd["resnet18"]["layer2.0.downsample.0.weight"] == (128, 64, 1, 1)
    assert "layer1.0.downsample.0.weight" not in sd["resnet18"]
    assert sd["resnet18"]["fc.weight"] == (1000, 512)
    assert sd["resnet50"]["layer1.0.downsample.0.weight"] == (256, 64, 1, 1)
    assert sd["resnet50"]["layer4.2.bn3.running_var"] == (2048,)
    assert sd["resnet50"]["fc.weight"] == (1000, 2048)
    assert sd["resnet101"]["layer3.22.conv2.weight"] == (256, 256, 3, 3)
    assert sd["vgg16_bn"]["features.40.weight"] == (512, 512, 3, 3)
    assert sd["vgg16_bn"]["features.41.running_var"] == (512,)
    assert sd["vgg19_bn"]["features.49.weight"] == (512, 512, 3, 3)
    assert sd["vgg11_bn"]["features.0.bias"] == (64,)
    for arch in ("vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"):
        assert sd[arch]["classifier.0.weight"] == (4096, 25088)
        assert sd[arch]["classifier.3.weight"] == (4096, 4096)
        assert sd[arch]["classifier.6.weight"] == (1000, 4096)
        assert not any(k.startswith(("classifier.1", "classifier.2", "avgpool")) for k in sd[arch])


def test_resnet_v15_stride_sits_on_the_3x3_conv(meta_models):
    block = meta_models["resnet50"].layer2[0]
    assert block.conv1.stride == (1, 1) and block.conv2.stride == (2, 2)
    assert block.downsample[0].stride == (2, 2)


@pytest.mark.parametrize("arch", TORCHVISION)
def test_forward_shapes_on_meta(meta_models, arch):
    out = meta_models[arch](torch.empty(2, 3, 224, 224, device="meta"))
    assert tuple(out.shape) == (2, 1000)


def test_digits_net_runs_on_cpu():
    torch.manual_seed(0)
    model = A.build("vgg_digits_bn")
    assert tuple(model(torch.randn(3, 1, 8, 8)).shape) == (3, 10)
    assert [n for n, _ in A.bn_layers(model)] == [f"features.{i}" for i in (1, 4, 8, 11, 15, 18)]


def test_residual_bn_names():
    resnet18 = A.build("resnet18", "meta")
    expected = {f"layer{k}.{i}.bn2" for k in range(1, 5) for i in range(2)}
    expected |= {f"layer{k}.0.downsample.1" for k in (2, 3, 4)}
    assert A.residual_bn_names(resnet18) == expected
    assert "layer1.0.bn3" in A.residual_bn_names(A.build("resnet50", "meta"))
    assert A.residual_bn_names(A.build("vgg11_bn", "meta")) == set()


def test_unknown_architecture_is_input_error():
    with pytest.raises(InputError, match="vgg12_bn"):
        A.build("vgg12_bn")
