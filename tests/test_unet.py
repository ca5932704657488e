import keras
import pytest

from keras_sgm import build_unet


def _skip_joins(unet):
    return [layer for layer in unet.layers if isinstance(layer, keras.layers.Concatenate)]


def test_skip_connections_concatenate_equal_sized_stages():
    unet = build_unet((28, 28, 1))
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


@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3)])
def test_output_has_the_image_shape(shape):
    unet = build_unet(shape)
    images = keras.random.normal((2, *shape))
    out = unet([images, keras.ops.ones((2,))])
    assert tuple(out.shape) == (2, *shape)


def test_output_depends_on_time():
    unet = build_unet((28, 28, 1), channels=(8, 16))
    images = keras.random.normal((1, 28, 28, 1), seed=1)
    early = unet([images, keras.ops.full((1,), 0.01)])
    late = unet([images, keras.ops.full((1,), 0.9)])
    assert float(keras.ops.max(keras.ops.abs(early - late))) > 1e-3


def test_too_many_levels_for_the_image_is_rejected():
    with pytest.raises(ValueError, match="fewer channels"):
        build_unet((4, 4, 1), channels=(8, 16, 32, 64))
