"""Evaluation reports as text."""


def format_report(report):
    """A markdown table of an evaluation report."""
    rows = [
        ("sampler", f"{report['sampler']} ({report['nfe']} NFE"
                    + (f", churn {report['churn']:g})" if report.get("churn") else ")")),
        ("samples", f"{report['num']} in {report['seconds']:.1f} s"),
        ("FID (classifier features)", f"{report['fid']:.3f}"),
        ("KID", f"{report['kid']:.5f} +- {report['kid_std']:.5f}"),
        ("classifier score (max 10)", f"{report['classifier_score']:.3f}"),
        *([("recognised as the requested digit", f"{report['label_accuracy']:.4f} (guidance {report['guidance']:g})")]
          if "label_accuracy" in report else []),
        ("digits covered (of 10)", str(report["coverage"])),
        ("class shares", " ".join(f"{p:.3f}" for p in report["class_histogram"])),
    ]
    if "nn_distance" in report:
        rows.append(("nearest training digit (median L2)",
                     f"{report['nn_distance']:.3f} (real test digits: {report.get('nn_distance_real', float('nan')):.3f})"))
    if "bpd" in report:
        rows.append(("bits/dim", f"{report['bpd']:.4f} +- {report['bpd_stderr']:.4f} ({report['bpd_images']} test digits)"))
    if "fid_floor" in report:
        rows.append(("FID floor / ceiling", f"{report['fid_floor']:.3f} / {report['fid_ceiling']:.1f}"))
        rows.append(("classifier score of the test set", f"{report['classifier_score_test']:.3f}"))
    return "\n".join(["| metric | value |", "| --- | --- |", *(f"| {k} | {v} |" for k, v in rows)])
