import keras
import numpy as np
import pytest

from keras_sgm import build_unet
from keras_sgm.models.layers import DepthToSpace, SmallMapConv2D, SpaceToDepth
from keras_sgm.models.unet import UNet, unet_arguments


def _skip_joins(unet):
    return [layer for layer in unet.layers if isinstance(layer, keras.layers.Concatenate)]


@pytest.mark.parametrize("blocks_per_level", [0, 2])
def test_skip_connections_concatenate_equal_sized_stages(blocks_per_level):
    unet = build_unet((28, 28, 1), blocks_per_level=blocks_per_level, attention=blocks_per_level > 0)
    joins = _skip_joins(unet)
    assert len(joins) == 3
    for join in joins:
        (upsampled, skip) = [tuple(t.shape) for t in join.input]
        output = tuple(join.output.shape)
        assert upsampled == skip, "a skip joins stages of different shapes"
        assert output[1:3] == skip[1:3], "the join changed the spatial size"
        assert output[-1] == 2 * skip[-1], "the join must double the channels k -> 2k"


def test_encoder_shrinks_space_and_widens_channels():
    unet = build_unet((28, 28, 1))
    skips = [tuple(join.input[1].shape) for join in _skip_joins(unet)][::-1]
    sizes = [shape[1] for shape in skips]
    widths = [shape[-1] for shape in skips]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == len(sizes)
    assert widths == sorted(widths) and len(set(widths)) == len(widths)


def test_default_size_is_close_to_the_reference():
    params = build_unet().count_params()
    assert 1.0e6 < params < 1.25e6


@pytest.mark.parametrize("shape, patch_size", [((28, 28, 1), 1), ((28, 28, 1), 2), ((32, 32, 3), 4)])
def test_output_has_the_image_shape(shape, patch_size):
    unet = build_unet(shape, patch_size=patch_size)
    assert unet_arguments(unet)["patch_size"] == patch_size
    images = keras.random.normal((2, *shape))
    out = unet([images, keras.ops.ones((2,))])
    assert tuple(out.shape) == (2, *shape)


def test_patches_hold_neighbouring_pixels_and_unfold_exactly():
    images = np.random.default_rng(0).normal(size=(2, 6, 4, 3)).astype("float32")
    folded = keras.ops.convert_to_numpy(SpaceToDepth(2)(images))
    assert folded.shape == (2, 3, 2, 12)
    # The patch at row 1, column 1 holds pixels (2..3, 2..3) of every channel.
    np.testing.assert_array_equal(folded[:, 1, 1].reshape(2, 2, 2, 3), images[:, 2:4, 2:4])
    unfolded = keras.ops.convert_to_numpy(DepthToSpace(2)(folded))
    np.testing.assert_array_equal(unfolded, images)


def test_patches_of_two_pixels_halve_every_level_and_keep_the_skips():
    assert unet_arguments(build_unet())["patch_size"] == 1
    unet = build_unet(patch_size=2)
    joins = [(tuple(join.input[1].shape), tuple(join.output.shape)) for join in _skip_joins(unet)]
    assert [skip[1:] for skip, _ in joins] == [(4, 4, 128), (7, 7, 64), (14, 14, 32)]
    assert all(out[-1] == 2 * skip[-1] for skip, out in joins)


def test_patch_size_that_does_not_divide_the_image_is_rejected():
    with pytest.raises(ValueError, match="must divide"):
        build_unet((28, 28, 1), patch_size=3)
    with pytest.raises(ValueError, match="positive integer"):
        build_unet((28, 28, 1), patch_size=0)


def test_output_depends_on_time():
    unet = build_unet((28, 28, 1), channels=(8, 16))
    images = keras.random.normal((1, 28, 28, 1), seed=1)
    early = unet([images, keras.ops.full((1,), 0.01)])
    late = unet([images, keras.ops.full((1,), 0.9)])
    assert float(keras.ops.max(keras.ops.abs(early - late))) > 1e-3


def test_too_many_levels_for_the_image_is_rejected():
    with pytest.raises(ValueError, match="fewer channels"):
        build_unet((4, 4, 1), channels=(8, 16, 32, 64))


@pytest.mark.parametrize(
    "shape, strides, padding",
    [((2, 2, 8), 1, "same"), ((4, 4, 8), 2, "same"), ((3, 5, 4), 2, "same"), ((5, 6, 2), 1, "valid")],
)
def test_small_map_convolution_equals_conv2d(shape, strides, padding):
    reference = keras.layers.Conv2D(6, 3, strides=strides, padding=padding, bias_initializer="random_normal")
    small_map = SmallMapConv2D(6, 3, strides=strides, padding=padding)
    images = np.random.default_rng(1).normal(size=(3, *shape)).astype("float32")
    expected = keras.ops.convert_to_numpy(reference(images))
    small_map.build(images.shape)
    small_map.set_weights(reference.get_weights())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(small_map(images)), expected, atol=1e-5)


def test_the_build_arguments_are_the_config_and_rebuild_the_same_network():
    options = {"patch_size": 2, "channels": (8, 16, 32), "blocks_per_level": 2, "attention": True,
               "dropout": 0.25}
    unet = build_unet((12, 16, 3), num_classes=10, embed_dim=32, **options)
    config = unet.get_config()
    assert {key: config[key] for key in options} == options
    assert config["image_shape"] == (12, 16, 3) and config["num_classes"] == 10
    rebuilt = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(unet))
    assert isinstance(rebuilt, UNet) and rebuilt.get_config() == config
    assert [w.shape for w in rebuilt.weights] == [w.shape for w in unet.weights]


def test_residual_blocks_attention_and_dropout_are_read_back_from_the_network():
    options = {"patch_size": 2, "channels": (8, 16, 32), "blocks_per_level": 2, "attention": True,
               "dropout": 0.25}
    unet = build_unet((28, 28, 1), num_classes=10, **options)
    assert unet_arguments(unet) == options
    # A network saved by 0.1 is a plain functional model: its layers tell the same.
    assert unet_arguments(keras.Model(unet.inputs, unet.outputs)) == options
    assert unet_arguments(build_unet(channels=(8, 16))) == {
        "patch_size": 1, "channels": (8, 16), "blocks_per_level": 0, "attention": False, "dropout": 0.0}
    # Each residual block is two 3x3 convolutions; attention sits at the coarsest level only.
    convolutions = [layer for layer in unet.layers if layer.name.endswith(("_conv1", "_conv2"))]
    assert len(convolutions) == 2 * 2 * (3 + 2)
    attention = [layer for layer in unet.layers if isinstance(layer, keras.layers.MultiHeadAttention)]
    assert [tuple(layer.input[0].shape) for layer in attention] == [(None, 16, 32)] * 2  # 4x4 positions


def test_dropout_acts_in_training_mode_only():
    unet = build_unet((8, 8, 1), channels=(8, 16), blocks_per_level=1, dropout=0.5)
    images = keras.random.normal((2, 8, 8, 1), seed=2)
    times = keras.ops.full((2,), 0.5)
    inference = [keras.ops.convert_to_numpy(unet([images, times])) for _ in range(2)]
    training = [keras.ops.convert_to_numpy(unet([images, times], training=True)) for _ in range(2)]
    np.testing.assert_array_equal(inference[0], inference[1])
    assert np.max(np.abs(training[0] - training[1])) > 1e-4
    assert np.max(np.abs(training[0] - inference[0])) > 1e-4


@pytest.mark.parametrize(
    "options, message",
    [({"attention": True}, "blocks_per_level >= 1"), ({"dropout": 0.1}, "blocks_per_level >= 1"),
     ({"blocks_per_level": -1}, "non-negative integer"), ({"blocks_per_level": 1, "dropout": 1.0}, r"\[0, 1\)")],
)
def test_bad_residual_options_are_rejected(options, message):
    with pytest.raises(ValueError, match=message):
        build_unet((28, 28, 1), **options)
