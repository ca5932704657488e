"""Class conditioning, label dropout and classifier-free guidance."""

import keras
import numpy as np
import pytest

from keras_sgm.diffusion.guidance import classifier_free
from keras_sgm.sampling.inpainting import inpaint
from keras_sgm.sampling.masks import half_mask
from keras_sgm.sampling.sample import sample
from keras_sgm.sampling.samplers import edm_heun
from tests.conftest import small_model, to_numpy


@pytest.fixture(scope="module")
def conditional():
    return small_model(seed=5, num_classes=10)


def _inputs(batch=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((batch, 28, 28, 1), dtype=np.float32), rng.uniform(0.05, 1.0, batch).astype("float32")


def test_the_label_changes_the_score(conditional):
    images, times = _inputs()
    scores = [to_numpy(conditional.score(images, times, labels=digit)) for digit in (None, 0, 1, 7)]
    for i in range(len(scores)):
        for j in range(i):
            assert np.abs(scores[i] - scores[j]).max() > 1e-4


def test_guidance_interpolates_between_unconditional_and_conditional(conditional):
    images, times = _inputs()
    sigma = conditional.schedule.marginal_std(times)
    unconditional = to_numpy(conditional.denoise(images, sigma))
    labelled = to_numpy(conditional.denoise(images, sigma, labels=3))
    # One doubled batch gives the formula at every scale, 0 and 1 included.
    labels = conditional.labels_for(3, len(images))
    for w in (0.0, 1.0, 2.5):
        guided = to_numpy(classifier_free(conditional, images, sigma, labels, keras.ops.convert_to_tensor(w)))
        np.testing.assert_allclose(guided, unconditional + w * (labelled - unconditional), rtol=1e-5, atol=1e-5)
    assert np.abs(labelled - unconditional).max() > 1e-3


def test_guidance_zero_samples_equal_unconditional_samples(conditional):
    plain, _ = edm_heun(conditional, 4, steps=3, seed=2)
    guided, _ = edm_heun(conditional.guided(labels=5, guidance=0.0), 4, steps=3, seed=2)
    np.testing.assert_array_equal(guided, plain)


def _label_rows(model):
    return to_numpy(model.network.get_layer("label_embedding").embeddings)


def test_labels_train_their_embeddings_and_images_alone_train_only_the_unlabelled_token(digits):
    images, labels = digits
    with_labels = small_model(seed=1, num_classes=10)
    before = _label_rows(with_labels)
    with_labels.fit(images[:128], labels[:128], batch_size=32, epochs=1, verbose=0)
    changed = np.abs(_label_rows(with_labels) - before).max(axis=1) > 0
    assert changed.all()  # ten digits and, through label dropout, the "no label" token

    images_only = small_model(seed=1, num_classes=10)
    before = _label_rows(images_only)
    images_only.fit(images[:128], batch_size=32, epochs=1, verbose=0)
    changed = np.abs(_label_rows(images_only) - before).max(axis=1) > 0
    assert not changed[:10].any() and changed[10]


def test_without_label_dropout_the_unlabelled_token_is_not_trained(digits):
    images, labels = digits
    model = small_model(seed=1, num_classes=10, label_dropout=0.0)
    before = _label_rows(model)
    model.fit(images[:64], labels[:64], batch_size=32, epochs=1, verbose=0)
    assert np.array_equal(_label_rows(model)[10], before[10])


def test_a_tf_data_pipeline_of_labelled_images_trains_a_conditional_model(digits):
    import tensorflow as tf

    images, labels = digits
    model = small_model(seed=2, num_classes=10)
    before = _label_rows(model)
    dataset = tf.data.Dataset.from_tensor_slices((images[:96], labels[:96])).batch(32)
    history = model.fit(dataset, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert (np.abs(_label_rows(model) - before)[:10].max(axis=1) > 0).any()


def test_sample_draws_the_requested_labels_batch_by_batch(conditional):
    labels = np.array([0, 1, 2, 3, 4])
    together, _, _ = sample(conditional, 5, steps=2, labels=labels, batch_size=5)
    in_pieces, _, _ = sample(conditional, 5, steps=2, labels=labels, batch_size=2)
    np.testing.assert_allclose(together[:2], in_pieces[:2], atol=1e-4)  # kernels vary with the batch size
    single, _, _ = sample(conditional, 2, steps=2, labels=0, batch_size=2)
    np.testing.assert_allclose(single[:1], together[:1], atol=1e-4)


def test_bad_labels_get_clear_errors(conditional, digits):
    images, labels = digits
    with pytest.raises(ValueError, match=r"`y` must lie in 0\.\.9"):
        conditional.fit(images[:32], labels[:32] + 10, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="integer class labels"):
        conditional.fit(images[:32], labels[:32].astype("float32"), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"0\.\.9"):
        conditional.guided(labels=12)
    with pytest.raises(ValueError, match="unconditional"):
        small_model(seed=0).guided(labels=3)
    with pytest.raises(ValueError, match="num_classes"):
        import keras_sgm

        keras_sgm.ScoreModel(small_model(seed=0).network, num_classes=10)


def _fresh_copy(model):
    """The same model as a new object, which has no compiled sampling programs yet."""
    copy = type(model).from_config(model.get_config())
    copy.set_weights(model.get_weights())
    return copy


def test_a_reused_sampling_program_reads_each_calls_labels_guidance_seed_and_known_pixels(conditional, test_digits):
    first, _, _ = sample(conditional, 4, steps=3, labels=3, guidance=2.0, seed=0)
    programs = len(conditional.sampling_programs.programs)
    second, _, _ = sample(conditional, 4, steps=3, labels=[7, 7, 1, 1], guidance=5.0, seed=1)
    assert len(conditional.sampling_programs.programs) == programs, "the second call compiled again"
    expected, _, _ = sample(_fresh_copy(conditional), 4, steps=3, labels=[7, 7, 1, 1], guidance=5.0, seed=1)
    np.testing.assert_allclose(second, expected, atol=1e-5)
    assert np.abs(second - first).max() > 0.1

    mask = half_mask((28, 28, 1), "top")
    inpainted = [inpaint(conditional, test_digits[0][i : i + 2] / 255.0, mask, steps=3, seed=0)[0]
                 for i in (0, 2)]
    expected, _ = inpaint(_fresh_copy(conditional), test_digits[0][2:4] / 255.0, mask, steps=3, seed=0)
    np.testing.assert_allclose(inpainted[1], expected, atol=1e-5)
