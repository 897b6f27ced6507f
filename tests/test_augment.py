import pytest
import torch

from sslengine import augment


@pytest.fixture
def g():
    return torch.Generator().manual_seed(0)


def digit_batch(n=64):
    x = torch.zeros(n, 1, 8, 8)
    x[:, :, 2:6, 3:5] = 1.0  # the same bar in every image
    return x


@pytest.mark.parametrize("view", [augment.weak, augment.strong])
def test_image_views_keep_shape_and_range(view, g):
    x = digit_batch()
    out = view(x, g)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.min() >= 0.0 and out.max() <= 1.0


@pytest.mark.parametrize("view,at_least", [(augment.weak, 9), (augment.strong, 48)])
def test_identical_images_get_different_per_sample_views(view, at_least, g):
    out = view(digit_batch(), g).flatten(1)
    distinct = {tuple(row.round(decimals=5).tolist()) for row in out}
    assert len(distinct) >= at_least  # one draw per sample; the weak view has 9 possible shifts


def test_weak_view_is_a_whole_pixel_shift_of_at_most_one(g):
    x = digit_batch()
    out = augment.weak(x, g)
    shifts = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    for image in out:
        assert any(torch.allclose(image, torch.roll(x[0], (dy, dx), dims=(1, 2)), atol=1e-5)
                   for dy, dx in shifts)


def test_weak_view_mirrors_about_half_the_photos_and_never_a_digit(g):
    x = digit_batch(400)
    x[:, :, 1:7, 6] = 1.0  # a bar near the right edge: a mirror moves it near the left one
    shifts = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]

    def mirrored_share(out):
        def matches(image, reference):
            return any(torch.allclose(image, torch.roll(reference, (dy, dx), dims=(1, 2)), atol=1e-5)
                       for dy, dx in shifts)
        mirrored = [matches(image, x[0].flip(-1)) for image in out]
        assert all(m or matches(image, x[0]) for m, image in zip(mirrored, out))  # a shift of one or the other
        return sum(mirrored) / len(out)

    assert 0.4 < mirrored_share(augment.weak(x, g, mirror=True)) < 0.6
    assert mirrored_share(augment.weak(x, g)) == 0


def test_only_photo_sets_are_mirrored():
    from sslengine.image_sets import mirrored
    assert [name for name in ("digits", "moons", "cifar10", "cifar100", "svhn", "stl10", "mnist", "fashion-mnist")
            if mirrored(name)] == ["cifar10", "cifar100", "stl10"]


def test_strong_view_changes_every_image_more_than_weak(g):
    x = digit_batch(256)
    weak_change = (augment.weak(x, g) - x).abs().mean()
    strong_change = (augment.strong(x, g) - x).abs().mean()
    assert strong_change > weak_change


def test_cutout_greys_one_square_per_image(g):
    x = torch.zeros(32, 1, 8, 8)
    out = augment.cutout(x, 0.5, g)
    grey = (out == 0.5).float().sum(dim=(1, 2, 3))
    assert (grey >= 1).all() and (grey <= 16).all()


@pytest.mark.parametrize("ops", [augment.STRONG_OPS, augment.COLOUR_STRONG_OPS])
def test_rand_augment_applies_exactly_n_ops_per_sample(ops, g):
    chosen = augment._choose_ops(200, 2, ops, torch.zeros(1), g)
    assert chosen.shape == (200, len(ops)) and (chosen.sum(dim=1) == 2).all()
    assert chosen.any(dim=0).all()  # every op gets used somewhere


def test_colour_images_get_fixmatchs_colour_ops_and_keep_range(g):
    x = torch.rand(64, 3, 32, 32, generator=g)
    out = augment.strong(x, g)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    for name in ("equalize", "color", "sharpness"):
        assert name in augment.COLOUR_STRONG_OPS and name not in augment.STRONG_OPS
        assert augment._photometric(name, x, g).shape == x.shape


def test_equalize_matches_a_loop_over_grey_levels():
    torch.manual_seed(0)
    x = (torch.rand(3, 2, 6, 5) * 0.4 + 0.3)  # a narrow range of levels, as a low-contrast photo
    out = augment.equalize(x)
    for image, equalised in zip(x, out):
        for channel, result in zip(image, equalised):
            levels = (channel * 255).round()
            darkest_count = (levels == levels.min()).sum()
            for value, got in zip(levels.flatten(), result.flatten()):
                expected = ((levels <= value).sum() - darkest_count) / (levels.numel() - darkest_count)
                assert got.item() == pytest.approx(expected.item(), abs=1e-6)
    assert out.amin(dim=(2, 3)).eq(0).all() and out.amax(dim=(2, 3)).eq(1).all()


def test_color_moves_each_image_along_its_line_to_grey_and_sharpness_keeps_flat_images(g):
    x = torch.rand(8, 3, 8, 8, generator=g)
    grey = augment.grayscale(x)
    out = augment._photometric("color", x, g)
    away, change = (x - grey).flatten(1), (out - grey).flatten(1)
    factor = (away * change).sum(1) / (away * away).sum(1)  # least squares: out - grey = f (x - grey)
    torch.testing.assert_close(change, factor[:, None] * away, rtol=0, atol=1e-5)
    assert ((factor >= 0) & (factor <= 2)).all() and factor.std() > 0.1  # one draw per image
    flat = torch.full((4, 3, 8, 8), 0.3)
    torch.testing.assert_close(augment._photometric("sharpness", flat, g), flat)
