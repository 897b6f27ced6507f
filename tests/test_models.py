"""The 32x32 networks against their published sizes, and the choice of model per dataset."""
import pytest
import torch

from sslengine.models import CifarResNet18, MLP, SmallCNN, WideResNet, build_model


def weights(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_wrn_28_2_has_fixmatchs_1_47_million_weights_and_a_128_wide_embedding():
    model = WideResNet(10)
    assert weights(model) == 1_467_610
    assert model.embed(torch.zeros(2, 3, 32, 32)).shape == (2, 128)
    # 28 = 4 + 6 * 4: twelve blocks, each with two 3x3 convolutions, plus the stem.
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(convs) == 25


def test_cifar_resnet_18_has_a_3x3_stem_no_max_pool_and_11_2_million_weights():
    model = CifarResNet18(10)
    assert weights(model) == 11_173_962
    stem = model.embed[0]
    assert stem.kernel_size == (3, 3) and stem.stride == (1, 1)
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in model.modules())
    assert model.embed(torch.zeros(2, 3, 32, 32)).shape == (2, 512)


@pytest.mark.parametrize("shape,expected", [((2,), MLP), ((1, 8, 8), SmallCNN), ((1, 28, 28), SmallCNN),
                                            ((3, 32, 32), WideResNet), ((3, 96, 96), WideResNet)])
def test_auto_picks_the_model_for_the_input(shape, expected):
    model = build_model("auto", shape, 10)
    assert isinstance(model, expected)
    assert model(torch.zeros(2, *shape)).shape == (2, 10)


@pytest.mark.parametrize("side,width", [(8, 32), (28, 16)])
def test_the_small_cnn_is_narrower_at_28_pixels(side, width):
    model = build_model("auto", (1, side, side), 10)
    assert model.head.in_features == 4 * width


def test_half_width_students_are_smaller():
    for name in ("wrn-28-2", "resnet-18"):
        assert weights(build_model(name, (3, 32, 32), 10, 0.5)) < weights(build_model(name, (3, 32, 32), 10)) / 2


def test_channels_last_gives_the_same_outputs():
    torch.manual_seed(0)
    model = WideResNet(10).eval()
    x = torch.rand(4, 3, 32, 32)
    expected = model(x)
    model = model.to(memory_format=torch.channels_last)
    torch.testing.assert_close(model(x.contiguous(memory_format=torch.channels_last)), expected,
                               rtol=1e-4, atol=1e-4)


def test_the_wide_resnets_batch_norm_statistics_catch_up_within_a_short_run():
    """A few hundred steps must leave the running mean near the activations' mean, not the initial 0: at
    FixMatch's momentum of 0.001 it is a quarter of the way there after 300 steps, and eval scores at chance."""
    model = WideResNet(10, depth=10, widen=1).train()
    stem_bn = model.embed[1].bn1
    with torch.no_grad():
        for _ in range(300):
            stem_bn(torch.full((4, stem_bn.num_features, 2, 2), 5.0) + torch.randn(4, stem_bn.num_features, 2, 2))
    assert stem_bn.running_mean.mean().item() > 0.9 * 5
