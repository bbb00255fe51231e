"""Metrics for latent models: ROC-AUC and a validation threshold for anomaly scores, PCA and principal
angles between subspaces, and the class-histogram entropy used as a mode-coverage measure.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats


def roc_auc(scores, is_positive) -> float:
    """Area under the ROC curve = P(score of a random positive > score of a random negative), ties
    counting 1/2: the Mann-Whitney U statistic divided by n_pos * n_neg (Hanley and McNeil, Radiology 1982).

    U = sum of the (tie-averaged) ranks of the positives - n_pos (n_pos + 1) / 2.
    """
    s = np.asarray(scores, float).ravel()
    y = np.asarray(is_positive).ravel().astype(bool)
    if s.shape != y.shape:
        raise ValueError(f"scores ({s.size}) and labels ({y.size}) differ in length.")
    if not np.all(np.isfinite(s)):
        raise ValueError("anomaly scores contain NaN or infinite values; check the model output.")
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"ROC-AUC needs both classes; got {n_pos} positives and {n_neg} negatives.")
    ranks = stats.rankdata(s)  # average ranks for ties
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def threshold_from_normals(normal_scores, false_positive_rate: float = 0.05) -> float:
    """The score above which a validation *normal* case is flagged with rate ``false_positive_rate``:
    the (1 - fpr) quantile of the normal validation scores (no anomalies are needed to choose it)."""
    if not 0 < false_positive_rate < 1:
        raise ValueError(f"false_positive_rate={false_positive_rate} must lie in (0, 1), e.g. 0.05.")
    s = np.asarray(normal_scores, float).ravel()
    if s.size == 0:
        raise ValueError("no validation scores to choose a threshold from; keep a validation split.")
    return float(np.quantile(s, 1 - false_positive_rate))


def detection_rates(scores, is_positive, threshold: float) -> dict:
    """True and false positive rates of the rule score > threshold."""
    s = np.asarray(scores, float).ravel()
    y = np.asarray(is_positive).ravel().astype(bool)
    flagged = s > threshold
    tpr = float(flagged[y].mean()) if y.any() else float("nan")
    fpr = float(flagged[~y].mean()) if (~y).any() else float("nan")
    return {"threshold": float(threshold), "tpr": tpr, "fpr": fpr, "n_positive": int(y.sum()),
            "n_negative": int((~y).sum())}


def pca(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Principal components of the rows of x (n, p): (mean (p,), components (k, p) orthonormal rows,
    explained variances (k,)), via the SVD of the centred data."""
    x = np.asarray(x, np.float64)
    if not 1 <= k <= min(x.shape):
        raise ValueError(f"k={k} components need 1 <= k <= min(n, p) = {min(x.shape)}.")
    mean = x.mean(0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    return mean, vt[:k], s[:k] ** 2 / max(len(x) - 1, 1)


def pca_reconstruct(x: np.ndarray, mean: np.ndarray, components: np.ndarray) -> np.ndarray:
    """Project onto the principal subspace and back: mean + (x - mean) V^T V."""
    x = np.asarray(x, np.float64)
    return mean + (x - mean) @ components.T @ components


def principal_angles(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Principal angles (radians, ascending) between the column spaces of a (p, k) and b (p, l):
    arccos of the singular values of Q_a^T Q_b (Bjorck and Golub, Math. Comp. 1973)."""
    qa, _ = np.linalg.qr(np.asarray(a, np.float64))
    qb, _ = np.linalg.qr(np.asarray(b, np.float64))
    s = np.linalg.svd(qa.T @ qb, compute_uv=False)
    return np.sort(np.arccos(np.clip(s, -1.0, 1.0)))


def nearest_mse(samples, reference) -> torch.Tensor:
    """Per sample, the mean squared difference per pixel to its nearest reference image (float32, (n,)): how
    data-like a generated sample is, and, near 0, whether it copies a training image."""
    a = torch.as_tensor(samples).flatten(1).double()
    b = torch.as_tensor(reference).flatten(1).double()
    d = a.pow(2).sum(1, keepdim=True) - 2 * a @ b.T + b.pow(2).sum(1)[None]  # (n, m) squared distances
    return (d.min(1).values.clamp_min(0) / a.shape[1]).float()


def class_histogram(labels, num_classes: int) -> np.ndarray:
    """Fractions of samples assigned to each class, (num_classes,)."""
    labels = np.asarray(labels, int).ravel()
    if labels.size == 0:
        raise ValueError("no samples to count.")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels must lie in 0..{num_classes - 1}.")
    return np.bincount(labels, minlength=num_classes) / labels.size


def histogram_entropy(fractions) -> float:
    """Entropy in nats, -sum p log p; log K for K evenly covered modes, 0 for total mode collapse."""
    p = np.asarray(fractions, float)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


__all__ = ["class_histogram", "detection_rates", "histogram_entropy", "nearest_mse", "pca", "pca_reconstruct",
           "principal_angles", "roc_auc", "threshold_from_normals"]
