#!/usr/bin/env python3
"""Independent reference for evals/lowshot.cpp's logistic regression: scikit-learn's.

swavbench fits W, b = argmin (1/n) sum_i CE(W x_i + b, y_i) + (l2 / 2) ||W||^2 (bias not
penalised). scikit-learn's multinomial LogisticRegression minimises C sum_i CE + (1/2) ||W||^2,
which is the same objective times 1 / (n l2 C)... so C = 1 / (n l2) gives the same minimiser.
Run by tests/unit/test_lowshot.cpp as

    lowshot_reference.py IN OUT

IN (whitespace-separated text):  n d classes l2, then n rows of d features, then n labels.
OUT (one number per line):        classes x d weights (row-major), classes biases, then the
                                  objective (swavbench's scaling) at scikit-learn's solution,
                                  computed here in float64 numpy.
"""
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression


def objective(weight, bias, x, y, l2):
    logits = x @ weight.T + bias
    logits -= logits.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(logits).sum(axis=1))
    ce = log_norm - logits[np.arange(len(y)), y]
    return ce.mean() + 0.5 * l2 * (weight ** 2).sum()


def main():
    with open(sys.argv[1]) as f:
        tokens = f.read().split()
    n, d, classes = int(tokens[0]), int(tokens[1]), int(tokens[2])
    l2 = float(tokens[3])
    values = np.array([float(t) for t in tokens[4:4 + n * d]], dtype=np.float64).reshape(n, d)
    labels = np.array([int(t) for t in tokens[4 + n * d:4 + n * d + n]], dtype=np.int64)
    model = LogisticRegression(C=1.0 / (n * l2), multi_class="multinomial", solver="lbfgs",
                               tol=1e-12, max_iter=100000)
    model.fit(values, labels)
    assert list(model.classes_) == list(range(classes)), model.classes_
    weight, bias = model.coef_, model.intercept_
    with open(sys.argv[2], "w") as out:
        for v in weight.reshape(-1):
            out.write(repr(float(v)) + "\n")
        for v in bias:
            out.write(repr(float(v)) + "\n")
        out.write(repr(float(objective(weight, bias, values, labels, l2))) + "\n")


if __name__ == "__main__":
    main()
