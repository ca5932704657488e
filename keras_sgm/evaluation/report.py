"""Evaluation reports as text."""


def format_report(report):
    """A markdown table of an evaluation report."""
    classes = len(report["class_histogram"])
    rows = [
        *([("data (feature network)", f"{report['data']} ({report['features']})")] if "features" in report else []),
        ("sampler", f"{report['sampler']} ({report['nfe']} NFE"
                    + (f", churn {report['churn']:g})" if report.get("churn") else ")")),
        ("samples", f"{report['num']} in {report['seconds']:.1f} s"),
        ("FID (classifier features)", f"{report['fid']:.3f}"),
        ("KID", f"{report['kid']:.5f} +- {report['kid_std']:.5f}"),
        (f"classifier score (max {classes})", f"{report['classifier_score']:.3f}"),
        *([("guidance", _guidance(report))] if "guidance" in report or "autoguidance" in report else []),
        *([("recognised as the requested class", f"{report['label_accuracy']:.4f}")]
          if "label_accuracy" in report else []),
        (f"classes covered (of {classes})", str(report["coverage"])),
        ("class shares", " ".join(f"{p:.3f}" for p in report["class_histogram"])),
    ]
    if "nn_distance" in report:
        real = report.get("nn_distance_real", float("nan"))
        rows.append(("nearest training image (median L2)", f"{report['nn_distance']:.3f} (real test images: {real:.3f})"))
    if "bpd" in report:
        rows.append(("bits/dim",
                     f"{report['bpd']:.4f} +- {report['bpd_stderr']:.4f} ({report['bpd_images']} test images)"))
    if "fid_floor" in report:
        rows.append(("FID floor / ceiling", f"{report['fid_floor']:.3f} / {report['fid_ceiling']:.1f}"))
        rows.append(("classifier score of the test set", f"{report['classifier_score_test']:.3f}"))
    return "\n".join(["| metric | value |", "| --- | --- |", *(f"| {k} | {v} |" for k, v in rows)])


def _guidance(report):
    if "autoguidance" not in report:
        return f"classifier-free, {report['guidance']:g}"
    text = f"autoguidance {report['autoguidance']:g}" + (f" by {report['guide']}" if report.get("guide") else "")
    return text + noise_interval(report.get("guide_interval"))


def noise_interval(interval):
    """Where a guide acts, for reports and messages: `" at noise levels 0.1 to 1.5"`, or `""` where
    `interval` is None (every level)."""
    return " at noise levels {:g} to {:g}".format(*interval) if interval else ""
