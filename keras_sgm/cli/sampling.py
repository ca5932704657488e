"""The commands of `keras-sgm` that draw from a model: sample, inpaint, img2img and evaluate."""

import pathlib

import click

from keras_sgm.cli.app import main
from keras_sgm.cli.io import (
    fail,
    load_model_or_fail,
    read_png,
    save_npz,
    writable_file,
)
from keras_sgm.cli.labels import class_labels, class_names, noun
from keras_sgm.cli.options import (
    FiniteFloat,
    checkpoint_option,
    data_options,
    features_option,
    guidance_option,
    guide_option,
    label_option,
    npz_option,
    num_option,
    progress_option,
    sampler_options,
    seed_option,
    steps_option,
)
from keras_sgm.evaluation.report import noise_interval
from keras_sgm.models.presets import DEFAULT_RECONSTRUCTION_GUIDANCE
from keras_sgm.sampling.masks import HALVES, half_mask
from keras_sgm.sampling.names import IMG2IMG_SAMPLERS


def _is_tfds_name(name):
    from keras_sgm.data.sources import kind_of_source

    try:
        return kind_of_source(name) == "tfds"
    except ValueError:
        return False


def _sampler_of(model, sampler, churn, steps=None):
    """`--sampler` (the model's default when not given) and the sampler's options, or a one-line error.

    `--sampler ode --steps N` is the ODE's fixed-step Heun solver; without `--steps`, the adaptive one.
    """
    from keras_sgm.sampling.sample import default_sampler

    sampler = sampler or default_sampler(model)
    if churn and sampler != "heun":
        fail(f"--churn applies to the heun sampler only, not {sampler}.")
    if sampler == "consistency" and not model.is_consistency_model:
        fail("--sampler consistency needs a consistency model, and this is a score model: tune one with "
             "`keras-sgm tune-consistency`, or choose another --sampler.")
    return sampler, {**({"churn": churn} if churn else {}), **({"solver": "heun"} if sampler == "ode" and steps else {})}


def _guide_of(model, guide, sampler):
    """The `guide` of `ScoreModel.guided` that `--guide` names: None (the model's own default: its guide
    network for unconditional samples), `"none"`, or the guide model loaded from a file or a preset."""
    from keras_sgm.diffusion.guidance import NO_GUIDE, check_guide

    if guide is None or guide == NO_GUIDE:
        return guide
    if sampler == "consistency":
        fail("--guide needs a score model's sampler: a guided consistency model is no consistency function; "
             "choose another --sampler, or --guide none.")
    guide_model = load_model_or_fail(guide)  # a file, or a preset by name
    try:
        check_guide(model, guide_model)
    except ValueError as error:
        fail(str(error))
    return guide_model


def _guided_view(model, labels, guidance, guide, interval):
    """`model.guided(...)` for the first label: how the samples will be guided, or a one-line error."""
    try:
        return model.guided(None if labels is None else labels[:1], guidance, guide, interval)
    except ValueError as error:
        fail(str(error))


def _shipped_for(sampler, checkpoint, preset):
    """The preset that a command without --checkpoint or --preset loads: the consistency-tuned
    shipped model for `--sampler consistency`, else the default."""
    from keras_sgm.models.presets import CONSISTENCY_PRESET

    return CONSISTENCY_PRESET if sampler == "consistency" and checkpoint is None and preset is None else preset


@main.command()
@checkpoint_option
@num_option(None, help="Number of images [default: 64; with --label all, 10 per row].")
@label_option("Sample this class, by name or index (class-conditional models); 'all' "
              "writes one row per class, 'any' draws each class at random, 'none' samples the unconditional "
              "path. [default: any for a class-conditional model (guided samples score far better), else none]")
@guidance_option()
@guide_option()
@sampler_options
@seed_option
@click.option("--batch-size", type=click.IntRange(min=1, max=100_000), default=256, show_default=True,
              help="Images generated at once.")
@click.option("--out", type=click.Path(), default="samples.png", show_default=True, help="PNG grid.")
@npz_option("the raw images")
@progress_option
def sample(checkpoint, preset, num, label, guidance, guide, guide_interval, sampler, steps, churn, seed, batch_size,
           out, npz, progress):
    """Sample images and write them as a PNG grid.

    With no --checkpoint it uses a shipped model (--preset, MNIST by
    default), so `keras-sgm sample --label all` works right after installing.
    """
    from keras_sgm.data.images import save_grid
    from keras_sgm.sampling.sample import sample as draw

    out = writable_file(out, ".png")
    npz = writable_file(npz, ".npz") if npz else None
    model = load_model_or_fail(checkpoint, _shipped_for(sampler, checkpoint, preset))
    sampler, options = _sampler_of(model, sampler, churn, steps)
    if label is None:
        # Guided samples score far better than unconditional ones (docs/benchmarks.md).
        label = "none" if model.num_classes is None else "any"
    num = num or (10 if label == "all" else 64)
    guide = _guide_of(model, guide, sampler)
    labels = class_labels(model, label, num, seed=seed)
    view = _guided_view(model, labels, guidance, guide, guide_interval)
    total = num if labels is None else len(labels)
    images, nfe, seconds = draw(model, total, sampler, steps, seed, batch_size, labels=labels, guidance=guidance,
                                guide=guide, guide_interval=guide_interval, progress=progress, **options)
    save_grid(images, out, columns=num if label == "all" else None)
    if npz:
        save_npz(npz, images=images, **({} if labels is None else {"labels": labels}))
    if label in ("all", "any", "none"):
        which = {"all": "one row per class", "any": "random classes", "none": ""}[label]
    else:
        which = class_names(model)[int(labels[0])]
    details = [which] if which else []
    if view.kind == "autoguidance":
        details.append(f"autoguidance {view.scale:g}{noise_interval(view.interval)}")
    elif label != "none":
        details.append(f"guidance {view.scale:g}")
    what = f"{'unconditional ' if label == 'none' else ''}{noun(model)}"
    what += f" ({', '.join(details)})" if details else ""
    click.echo(f"{total} {what} with {sampler} ({nfe} NFE) in {seconds:.1f} s -> {out}"
               + (f", {npz}" if npz else ""))


@main.command()
@click.option("--image", type=click.Path(dir_okay=False), required=True,
              help="The image to complete: a PNG of the model's size and colour (28x28 grayscale for MNIST).")
@click.option("--keep", type=click.Choice(HALVES), default=None,
              help="Which half of the image is known; the rest is generated.")
@click.option("--mask", "mask_path", type=click.Path(dir_okay=False), default=None,
              help="Instead of --keep, a PNG of the same size: white where pixels are known.")
@checkpoint_option
@num_option(8, maximum=10_000, help="Completions to draw.")
@label_option("Complete it as this class, by name or index (class-conditional models).")
@guidance_option()
@steps_option(500, help="Euler-Maruyama steps.")
@click.option("--resample", type=click.IntRange(min=1, max=100), default=1, show_default=True,
              help="RePaint passes per step (NFE = steps x resample): completions agree better "
                   "with the known pixels.")
@click.option("--reconstruction-guidance", type=FiniteFloat(min=0, max=10_000),
              default=DEFAULT_RECONSTRUCTION_GUIDANCE, show_default=True,
              help="Pull of the generated pixels towards agreeing with the known ones (a backward "
                   "pass per step, about twice the time); 0: replacement alone.")
@seed_option
@click.option("--out", type=click.Path(), default="inpainted.png", show_default=True,
              help="PNG: the masked input (unknown pixels grey), then the completions.")
@npz_option("the completions")
@progress_option
def inpaint(image, keep, mask_path, checkpoint, preset, num, label, guidance, steps, resample,
            reconstruction_guidance, seed, out, npz, progress):
    """Fill in the unknown part of an image, keeping its known pixels.

    Give the known region with --keep (a half) or --mask (a PNG).
    """
    import numpy as np

    from keras_sgm.data.images import grey_unknown, save_grid
    from keras_sgm.sampling.inpainting import inpaint as complete

    if (keep is None) == (mask_path is None):
        fail("give exactly one of --keep (top, bottom, left, right) or --mask PNG.")
    out = writable_file(out, ".png")
    npz = writable_file(npz, ".npz") if npz else None
    model = load_model_or_fail(checkpoint, preset)
    if model.is_consistency_model:
        fail("inpaint integrates a score, and this is a consistency model: give the score model it was tuned "
             "from as --checkpoint.")
    known = read_png(image, model.image_shape, "image")
    if mask_path is not None:
        mask = (read_png(mask_path, (*model.image_shape[:2], 1), "mask") > 0.5).astype("float32")
    else:
        mask = half_mask(model.image_shape, keep)
    if not mask.any():
        fail("the mask marks no pixel as known (known pixels are white); nothing to complete from.")
    if label in ("all", "any"):
        fail(f"--label {label} does not apply to inpainting; give one class, or none.")
    labels = class_labels(model, label, num)
    scorer = model if labels is None else model.guided(labels, guidance)
    images, nfe = complete(scorer, np.repeat(known[None], num, axis=0), mask, steps=steps,
                           resample=resample, reconstruction_guidance=reconstruction_guidance,
                           seed=seed, progress=progress)
    save_grid(np.concatenate([grey_unknown(known, mask)[None], images]), out, columns=num + 1)
    if npz:
        save_npz(npz, images=images, mask=mask)
    click.echo(f"{num} completions ({nfe} NFE each) -> {out}" + (f", {npz}" if npz else ""))



@main.command()
@click.option("--image", type=click.Path(exists=True), required=True,
              help="A PNG of the model's size and colour, or a folder of them.")
@click.option("--strength", type=FiniteFloat(min=0, max=1), required=True,
              help="How far up the noise levels the images go, in (0, 1]: low keeps strokes and "
                   "layout, 1 keeps nothing.")
@checkpoint_option
@num_option(4, maximum=1_000, help="Redrawings of each image.")
@label_option("Redraw towards this class, by name or index (class-conditional models).")
@guidance_option()
@click.option("--sampler", type=click.Choice(IMG2IMG_SAMPLERS), default=None,
              help="The sampler that redraws (ode: Heun's fixed steps) [default: consistency for a consistency "
                   "model, else heun].")
@steps_option(None, help="Sampler steps [default: strength x the sampler's own from the prior (heun 18, euler and "
                         "pc 500, ode 100); consistency: 1 jump].")
@seed_option
@click.option("--out", type=click.Path(), default="img2img.png", show_default=True,
              help="PNG: each input, then its redrawings, a row per input.")
@npz_option("the redrawn images")
@progress_option
def img2img(image, strength, checkpoint, preset, num, label, guidance, sampler, steps, seed, out, npz, progress):
    """Redraw images from partway up the noise levels (SDEdit), optionally towards a class."""
    import numpy as np

    from keras_sgm.data.images import save_grid
    from keras_sgm.sampling.img2img import img2img as redraw

    if strength <= 0:
        fail("--strength must be above 0 (0 would return the images unchanged); try 0.5.")
    out = writable_file(out, ".png")
    npz = writable_file(npz, ".npz") if npz else None
    model = load_model_or_fail(checkpoint, _shipped_for(sampler, checkpoint, preset))
    folder = pathlib.Path(image)
    paths = sorted(path for path in folder.iterdir() if path.suffix.lower() == ".png") if folder.is_dir() else [folder]
    if not paths:
        fail(f"the folder {folder} holds no .png image.")
    if label in ("all", "any"):
        fail(f"--label {label} does not apply to img2img; give one class, or none.")
    inputs = np.stack([read_png(path, model.image_shape, "image") for path in paths])
    labels = class_labels(model, label, num * len(paths))
    try:
        images, nfe = redraw(model.guided(labels, guidance), np.repeat(inputs, num, axis=0), strength, sampler=sampler, steps=steps,
                             seed=seed, progress=progress)
    except ValueError as error:
        fail(str(error))
    images = np.clip(images, 0.0, 1.0)
    rows = np.concatenate([inputs[:, None], images.reshape(len(paths), num, *images.shape[1:])], axis=1)
    save_grid(rows.reshape(-1, *images.shape[1:]), out, columns=num + 1)
    if npz:
        save_npz(npz, images=images)
    click.echo(f"{len(paths)} image(s) redrawn {num} times at strength {strength:g} ({nfe} NFE each) -> {out}"
               + (f", {npz}" if npz else ""))

@main.command(reads_data=True)
@checkpoint_option
@num_option(10_000, minimum=200, maximum=1_000_000,
            help="Number of samples scored (the FID needs more than its 128 feature dimensions).")
@sampler_options
@click.option("--conditional/--unconditional", default=False, show_default=True,
              help="Sample every class equally often with guidance, and report how many are recognised "
                   "as the requested class (class-conditional models).")
@guidance_option(help="Guidance scale with --conditional, or with --guide [default: the model's own].")
@guide_option()
@seed_option
@click.option("--batch-size", type=click.IntRange(min=1, max=100_000), default=1000, show_default=True)
@click.option("--bpd/--no-bpd", default=False, show_default=True,
              help="Also the negative log-likelihood of test images in bits/dim.")
@click.option("--bpd-num", type=click.IntRange(min=2, max=10_000), default=500, show_default=True,
              help="Test images used for bits/dim.")
@click.option("--bpd-tolerance", type=FiniteFloat(min=0, min_open=True), default=1e-5, show_default=True,
              help="rtol = atol of the likelihood ODE solver.")
@click.option("--calibrate/--no-calibrate", default=False, show_default=True,
              help="Also the FID floor (train vs test images) and ceiling (noise vs test).")
@data_options(None, " [default: the model's training data when it names a TFDS dataset, else mnist]; its test "
                    "split, in the model's size and colour, is the reference")
@features_option("the shipped one of the model's data")
@click.option("--json", "json_path", type=click.Path(), default="evaluation.json", show_default=True,
              help="Where the figures are written.")
@progress_option
def evaluate(checkpoint, preset, num, sampler, steps, churn, conditional, guidance, guide, guide_interval, seed,
             batch_size, bpd, bpd_num, bpd_tolerance, calibrate, data, data_dir, features, json_path, progress):
    """Sample images and score them against a test set: FID, KID, classifier score, coverage (and bits/dim)."""
    import json

    from keras_sgm.data.datasets import DatasetUnavailableError
    from keras_sgm.evaluation import metrics
    from keras_sgm.evaluation.classifier import load_classifier, shipped_features_for
    from keras_sgm.evaluation.evaluate import (
        calibration,
        evaluate_model,
        load_reference_images,
    )
    from keras_sgm.evaluation.report import format_report

    json_path = writable_file(json_path, ".json")
    model = load_model_or_fail(checkpoint, _shipped_for(sampler, checkpoint, preset))
    sampler, options = _sampler_of(model, sampler, churn, steps)
    dataset = model.dataset or "mnist"
    features = features or shipped_features_for(dataset)
    if features is None:
        fail(f"no feature network ships for {dataset}: train one with `keras-sgm train-classifier --data DATA "
             f"--output classifier.keras`, then give --features classifier.keras.")
    try:
        network = load_classifier(features, model.image_shape)
    except (FileNotFoundError, ValueError) as error:
        fail(" ".join(str(error).split()))
    if tuple(network.input.shape[1:]) != model.image_shape:
        fail(f"the feature network {features} takes {'x'.join(map(str, network.input.shape[1:]))} images, but the "
             f"model makes {'x'.join(map(str, model.image_shape))} ones; give --features of the model's data.")
    labels = None
    if conditional:
        labels = class_labels(model, "all", -(-num // (model.num_classes or 1)), "--conditional")[:num]
    guide_name = guide or "its guide network"
    guide = _guide_of(model, guide, sampler)
    _guided_view(model, labels, guidance, guide, guide_interval)
    defaulted = data is None
    if defaulted:
        data = model.dataset if model.dataset and _is_tfds_name(model.dataset) else "mnist"
    try:
        test_images, train_images = load_reference_images(data, data_dir, model.image_shape)
    except (DatasetUnavailableError, ValueError) as error:
        hint = ""
        if defaulted and model.dataset:
            hint = f" The model was trained on {model.dataset}: give --data that folder or file."
        fail(" ".join(str(error).split()) + hint)
    reference = metrics.classify(test_images, features=network)
    report, _ = evaluate_model(model, test_images, train_images, num=num, sampler=sampler,
                               steps=steps, seed=seed, batch_size=batch_size,
                               bpd_images=bpd_num if bpd else 0, bpd_tolerance=bpd_tolerance,
                               reference=reference, labels=labels, guidance=guidance, guide=guide,
                               guide_interval=guide_interval, progress=progress, features=network, **options)
    report.update(data=data, features=str(features))
    if "autoguidance" in report:
        report["guide"] = guide_name
    if calibrate:
        report.update(calibration(test_images, train_images, reference=reference, features=network))
    json_path.write_text(json.dumps(report, indent=1))
    click.echo(format_report(report))
    click.echo(f"figures written to {json_path}")
