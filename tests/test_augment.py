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


def test_rand_augment_applies_exactly_n_ops_per_sample(g):
    chosen = augment._choose_ops(100, 2, torch.zeros(1), g)
    assert (chosen.sum(dim=1) == 2).all()
    assert chosen.any(dim=0).all()  # every op gets used somewhere


def test_point_views_are_gaussian_jitter_with_the_right_scale(g):
    x = torch.zeros(20000, 2)
    assert augment.weak(x, g).std().item() == pytest.approx(augment.POINT_JITTER_WEAK, rel=0.05)
    assert augment.strong(x, g).std().item() == pytest.approx(augment.POINT_JITTER_STRONG, rel=0.05)


def test_views_are_reproducible_from_the_generator():
    x = digit_batch()
    a = augment.strong(x, torch.Generator().manual_seed(7))
    b = augment.strong(x, torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def test_rotate_quarters_turns_each_image_by_its_own_count():
    x = torch.arange(2 * 3 * 3, dtype=torch.float32).reshape(2, 1, 3, 3)
    turns = torch.tensor([1, 3])
    got = augment.rotate_quarters(x, turns)
    for i, k in enumerate(turns.tolist()):
        assert torch.equal(got[i], torch.rot90(x[i], k, dims=(-2, -1)))


def test_rotate_quarters_turns_points_about_the_origin():
    points = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    got = augment.rotate_quarters(points, torch.tensor([1, 2, 3]))
    assert torch.allclose(got, torch.tensor([[0.0, 1.0], [-1.0, 0.0], [2.0, 0.0]]), atol=1e-6)


def test_random_affine_moves_points_by_the_map_it_returns(g):
    points = torch.randn(50, 2)
    moved, theta = augment.random_affine(points, g)
    by_hand = torch.stack([m[:, :2] @ p + m[:, 2] for m, p in zip(theta, points)])
    assert torch.allclose(moved, by_hand, atol=1e-6)


def test_random_affine_draws_a_rotation_scaled_within_bounds_per_image(g):
    images = torch.rand(200, 1, 8, 8)
    views, theta = augment.random_affine(images, g)
    assert views.shape == images.shape
    # det = scale^2 for rotation * scale * shear: so every scale lies in 1 +- AFFINE_MAX_SCALE.
    scale = torch.linalg.det(theta[:, :, :2]).sqrt()
    assert scale.min() >= 1 - augment.AFFINE_MAX_SCALE - 1e-6 and scale.max() <= 1 + augment.AFFINE_MAX_SCALE + 1e-6
    assert scale.std() > 0.05 and theta[:, :, 2].abs().max() <= augment.AFFINE_MAX_SHIFT
    assert torch.allclose(views[0], augment._warp(images[:1], theta[:1])[0])


def test_simclr_views_differ_per_sample_and_grow_with_strength(g):
    x = torch.rand(256, 1, 8, 8)
    mild, harsh = augment.simclr_view(x, 0.5, g), augment.simclr_view(x, 1.5, g)
    assert mild.shape == x.shape and 0 <= mild.min() and mild.max() <= 1
    assert (augment.simclr_view(x, 1.0, g) - augment.simclr_view(x, 1.0, g)).abs().mean() > 0.05
    assert (harsh - x).abs().mean() > 1.3 * (mild - x).abs().mean()


def test_rotate_hue_by_zero_or_a_full_turn_changes_nothing_and_keeps_grey_grey():
    x = torch.rand(4, 3, 8, 8)
    assert torch.allclose(augment.rotate_hue(x, torch.zeros(4)), x, atol=1e-5)
    assert torch.allclose(augment.rotate_hue(x, torch.ones(4)), x, atol=1e-5)
    grey = augment.grayscale(x)
    assert torch.allclose(augment.rotate_hue(grey, torch.full((4,), 0.3)), grey, atol=1e-5)
    red = torch.zeros(1, 3, 1, 1)
    red[0, 0] = 1.0
    assert augment.rotate_hue(red, torch.tensor([1 / 3]))[0, :, 0, 0].argmax() == 1  # red -> green


def test_random_resized_crop_mirrors_exactly_and_zooms_in_on_small_areas():
    x = torch.rand(8, 3, 16, 16)
    plain = augment.random_resized_crop(x, torch.Generator().manual_seed(1), flip=0.0)
    mirrored = augment.random_resized_crop(x, torch.Generator().manual_seed(1), flip=1.0)
    assert torch.allclose(mirrored, plain.flip(-1), atol=1e-6)
    # A 1 % crop spans about 1.6 px of the 16: neighbouring output pixels come from the same input pixels.
    zoomed = augment.random_resized_crop(x, torch.Generator().manual_seed(1), area=(0.01, 0.01))
    assert zoomed.diff(dim=-1).abs().mean() < 0.3 * x.diff(dim=-1).abs().mean()


def test_simclr_colour_views_grey_about_a_fifth_of_the_images(g):
    x = torch.rand(2000, 3, 8, 8)
    views = augment.simclr_view(x, 1.0, g)
    assert views.shape == x.shape and 0 <= views.min() and views.max() <= 1
    grey = ((views[:, 0] - views[:, 1]).abs().amax(dim=(1, 2)) < 1e-6).float().mean()
    assert 0.16 < grey < 0.24
