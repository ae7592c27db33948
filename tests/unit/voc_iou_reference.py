#!/usr/bin/env python3
"""Boxes at exactly IoU 1/2 with decimal coordinates, and the devkit's verdict on each.

Writes a VOC2007-layout folder (Annotations/*.xml, ImageSets/Main/test.txt, a devkit results
file comp4_det_test_dog.txt) with one ground-truth box and one detection per image, and
expected.json: for each image whether VOCevaldet.m counts the detection as a match.

The reference is written from the devkit's rules, not from swavbench's code:
  bi = [max(bb(1),gt(1)); max(bb(2),gt(2)); min(bb(3),gt(3)); min(bb(4),gt(4))]
  iw = bi(3)-bi(1)+1; ih = bi(4)-bi(2)+1
  ua = (bb(3)-bb(1)+1)*(bb(4)-bb(2)+1) + (gt(3)-gt(1)+1)*(gt(4)-gt(2)+1) - iw*ih
  ov = iw*ih/ua; a match when ov >= 0.5
in MATLAB doubles (Python floats are IEEE doubles, and each step rounds as MATLAB's does). Each
case is also checked to be exactly 1/2 in rational arithmetic, and the same formula in float32
is reported: cases where float32 disagrees with the devkit are the ones the test is about.

usage: voc_iou_reference.py OUT_DIR
"""
import json
import os
import random
import sys
from fractions import Fraction

import numpy as np


def devkit_overlap(bb, gt, num=float):
    """VOCevaldet.m's overlap of detection bb with ground truth gt, in the type `num`."""
    bb = [num(v) for v in bb]
    gt = [num(v) for v in gt]
    one = num(1)
    bi = [max(bb[0], gt[0]), max(bb[1], gt[1]), min(bb[2], gt[2]), min(bb[3], gt[3])]
    iw = bi[2] - bi[0] + one
    ih = bi[3] - bi[1] + one
    if not (iw > 0 and ih > 0):
        return None
    ua = (bb[2] - bb[0] + one) * (bb[3] - bb[1] + one) + \
        (gt[2] - gt[0] + one) * (gt[3] - gt[1] + one) - iw * ih
    return iw * ih / ua


def decimal(rng, lo, hi, places):
    """A decimal string in [lo, hi) with `places` digits after the point."""
    scale = 10 ** places
    return f"{rng.randrange(lo * scale, hi * scale) / scale:.{places}f}"


def cases(rng, count):
    """(gt, det) pairs of decimal strings whose exact IoU is 1/2: the detection is the ground
    truth shifted by s along one axis, with the box's extent W = 3 s along it, so the
    intersection is 2 s H and the union 4 s H."""
    out = []
    while len(out) < count:
        places = rng.choice([1, 2, 3])
        s = Fraction(decimal(rng, 1, 6, places))
        w = 3 * s
        h = Fraction(decimal(rng, 2, 30, rng.choice([0, 1, 3])))
        x0 = Fraction(decimal(rng, 1, 40, rng.choice([1, 2, 3])))
        y0 = Fraction(decimal(rng, 1, 40, rng.choice([1, 2, 3])))
        gt = [x0, y0, x0 + w - 1, y0 + h - 1]
        det = [x0 + s, y0, x0 + s + w - 1, y0 + h - 1]
        if rng.random() < 0.5:  # the same along y
            gt = [y0, x0, y0 + h - 1, x0 + w - 1]
            det = [y0, x0 + s, y0 + h - 1, x0 + s + w - 1]
        if min(gt[2] - gt[0], gt[3] - gt[1]) <= 0:
            continue
        exact = devkit_overlap(det, gt, num=lambda v: v)  # Fractions: exact arithmetic
        assert exact == Fraction(1, 2), exact
        # Decimal strings with no trailing representation error in the text itself.
        text = lambda box: [format(float(v), ".17g") if v.denominator > 1000 else
                            f"{float(v):.3f}".rstrip("0").rstrip(".") for v in box]
        gt_text, det_text = text(gt), text(det)
        if any(Fraction(t) != v for t, v in zip(gt_text + det_text, gt + det)):
            continue  # a value that three decimals cannot write exactly
        out.append((gt_text, det_text))
    return out


def main():
    out_dir = sys.argv[1]
    rng = random.Random(20261205)
    os.makedirs(os.path.join(out_dir, "Annotations"), exist_ok=True)
    os.makedirs(os.path.join(out_dir, "ImageSets", "Main"), exist_ok=True)
    expected = {}
    ids = []
    det_lines = []
    float32_disagrees = 0
    for i, (gt, det) in enumerate(cases(rng, 400)):
        image_id = f"{i:06d}"
        ids.append(image_id)
        ov = devkit_overlap([float(v) for v in det], [float(v) for v in gt])
        ov32 = devkit_overlap(det, gt, num=np.float32)
        match = ov >= 0.5
        float32_disagrees += bool(ov32 >= np.float32(0.5)) != match
        expected[image_id] = {"match": bool(match), "overlap": ov, "gt": gt, "det": det}
        with open(os.path.join(out_dir, "Annotations", image_id + ".xml"), "w") as f:
            f.write("<annotation><filename>%s.jpg</filename><size><width>100</width>"
                    "<height>100</height><depth>3</depth></size><object><name>dog</name>"
                    "<difficult>0</difficult><bndbox><xmin>%s</xmin><ymin>%s</ymin>"
                    "<xmax>%s</xmax><ymax>%s</ymax></bndbox></object></annotation>\n"
                    % (image_id, *gt))
        det_lines.append(f"{image_id} 1 {' '.join(det)}\n")
    with open(os.path.join(out_dir, "ImageSets", "Main", "test.txt"), "w") as f:
        f.write("".join(i + "\n" for i in ids))
    with open(os.path.join(out_dir, "comp4_det_test_dog.txt"), "w") as f:
        f.write("".join(det_lines))
    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        json.dump({"cases": expected, "float32_disagrees": float32_disagrees}, f)
    print(f"{len(ids)} cases, {sum(c['match'] for c in expected.values())} matches in double, "
          f"float32 disagrees on {float32_disagrees}")


if __name__ == "__main__":
    main()
