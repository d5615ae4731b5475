"""Seeded tabular data for the drift benchmark: 50 numeric + 5 categorical features.

``make(seed, n_ref, n_cur, drift)`` draws a reference and a current sample from the
same distributions; with ``drift=True`` eleven drifts of different kinds are injected
into the current sample, each on its own feature (``truth``). They are moderate on
purpose: a good detector finds all of them at n = 200,000 per side, a naive one (an
effect-size threshold, a test that drops NaN first) misses some. With ``drift=False``
the current sample is a fresh draw from the reference distribution (false alarms).

Numeric features come back as one float64 array of shape (n, 50) in column-major
(Fortran) order, so that ``numeric[:, j]`` is a contiguous column, as a parser that
builds one array per feature would produce. Missing numeric values are NaN;
categorical features are object arrays of ``str`` (no missing values).

Numeric shapes (five of each, varied parameters): normal, lognormal, uniform,
bimodal (two normals), Poisson counts, gamma, Student t (df 5), scaled beta,
exponential, negative-binomial counts; ten features have ~2 % NaN. Categorical: 4, 12,
30, 3 and 8 levels, Zipf-like frequencies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

Rng = np.random.Generator
Data = dict[str, Any]

N_NUMERIC = 50
MISSING_RATE = 0.02
# ~2 % NaN on ten features, one of each shape (exponential_0 is the missing-rate drift).
WITH_MISSING = frozenset(
    {
        "exponential_0",
        "normal_3",
        "lognormal_4",
        "uniform_1",
        "bimodal_2",
        "count_3",
        "gamma_0",
        "student_t_2",
        "beta_4",
        "nb_count_1",
    }
)


@dataclass(frozen=True)
class Num:
    name: str
    draw: Callable[[Rng, int], np.ndarray]
    mean: float  # of the distribution (not of a sample); used by the drifts
    sd: float
    missing: float = 0.0


def _bimodal(w: float, m1: float, m2: float, s: float) -> Callable[[Rng, int], np.ndarray]:
    def draw(rng: Rng, n: int) -> np.ndarray:
        first = rng.random(n) < w
        return np.where(first, rng.normal(m1, s, n), rng.normal(m2, s, n))

    return draw


def _numeric_specs() -> list[Num]:
    """Fifty features: ten shapes x five parameter sets; every fifth one has NaN."""
    specs: list[Num] = []
    for i in range(5):
        mu, sd = [0.0, 10.0, -3.0, 100.0, 1.5][i], [1.0, 2.5, 0.4, 15.0, 3.0][i]
        ln_mu, ln_s = [0.0, 2.0, 4.0, -1.0, 1.0][i], [0.5, 0.8, 1.0, 0.3, 1.2][i]
        lo, hi = [0.0, -5.0, 10.0, 0.0, 100.0][i], [1.0, 5.0, 20.0, 365.0, 250.0][i]
        bm = [(0.55, -2.0, 2.0, 1.0), (0.7, 0.0, 5.0, 1.5), (0.55, 10.0, 14.0, 1.0),
              (0.6, 1.0, 3.0, 0.5), (0.5, -1.0, 1.0, 0.6)][i]  # fmt: skip
        lam = [0.5, 3.0, 8.0, 20.0, 1.5][i]
        shape, scale = [2.0, 9.0, 0.8, 25.0, 4.0][i], [1.0, 0.5, 10.0, 2.0, 3.0][i]
        t_loc, t_scale = [0.0, 50.0, -10.0, 3.0, 0.0][i], [1.0, 5.0, 2.0, 0.5, 10.0][i]
        a, b, width = (
            [2.0, 0.5, 5.0, 1.0, 8.0][i],
            [5.0, 0.5, 2.0, 3.0, 8.0][i],
            [1, 100, 10, 1, 5][i],
        )
        ex = [1.0, 0.2, 30.0, 5.0, 0.05][i]
        nb_n, nb_p = [2, 5, 1, 10, 3][i], [0.3, 0.5, 0.1, 0.6, 0.2][i]
        w, m1, m2, s = bm
        bm_mean = w * m1 + (1 - w) * m2
        bm_sd = np.sqrt(s**2 + w * (1 - w) * (m2 - m1) ** 2)
        ln_sd = np.sqrt((np.exp(ln_s**2) - 1) * np.exp(2 * ln_mu + ln_s**2))
        beta_sd = width * np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
        nb_mean, nb_sd = nb_n * (1 - nb_p) / nb_p, np.sqrt(nb_n * (1 - nb_p)) / nb_p
        specs += [
            Num(f"normal_{i}", lambda r, n, mu=mu, sd=sd: r.normal(mu, sd, n), mu, sd),
            Num(
                f"lognormal_{i}",
                lambda r, n, m=ln_mu, s=ln_s: r.lognormal(m, s, n),
                float(np.exp(ln_mu + ln_s**2 / 2)),
                float(ln_sd),
            ),
            Num(
                f"uniform_{i}",
                lambda r, n, lo=lo, hi=hi: r.uniform(lo, hi, n),
                (lo + hi) / 2,
                (hi - lo) / np.sqrt(12),
            ),
            Num(f"bimodal_{i}", _bimodal(*bm), bm_mean, float(bm_sd)),
            Num(
                f"count_{i}",
                lambda r, n, lam=lam: r.poisson(lam, n).astype(np.float64),
                lam,
                float(np.sqrt(lam)),
            ),
            Num(
                f"gamma_{i}",
                lambda r, n, k=shape, th=scale: r.gamma(k, th, n),
                shape * scale,
                float(np.sqrt(shape) * scale),
            ),
            Num(
                f"student_t_{i}",
                lambda r, n, lo=t_loc, sc=t_scale: lo + sc * r.standard_t(5, n),
                t_loc,
                float(t_scale * np.sqrt(5 / 3)),
            ),
            Num(
                f"beta_{i}",
                lambda r, n, a=a, b=b, k=width: k * r.beta(a, b, n),
                width * a / (a + b),
                float(beta_sd),
            ),
            Num(f"exponential_{i}", lambda r, n, ex=ex: r.exponential(ex, n), ex, ex),
            Num(
                f"nb_count_{i}",
                lambda r, n, k=nb_n, p=nb_p: r.negative_binomial(k, p, n).astype(np.float64),
                nb_mean,
                float(nb_sd),
            ),
        ]
    return [
        Num(s.name, s.draw, s.mean, s.sd, MISSING_RATE if s.name in WITH_MISSING else 0.0)
        for s in specs
    ]


@dataclass(frozen=True)
class Cat:
    name: str
    levels: tuple[str, ...]
    p: tuple[float, ...]


def _zipf(k: int, s: float) -> tuple[float, ...]:
    w = 1.0 / np.arange(1, k + 1) ** s
    return tuple(float(x) for x in w / w.sum())


CATEGORICAL = [
    Cat("channel", ("web", "ios", "android", "partner_api"), (0.5, 0.25, 0.15, 0.10)),
    Cat("country", tuple(f"C{i:02d}" for i in range(12)), _zipf(12, 1.1)),
    Cat("product", tuple(f"sku_{i:03d}" for i in range(30)), _zipf(30, 1.0)),
    Cat("tier", ("free", "pro", "enterprise"), (0.80, 0.17, 0.03)),
    Cat("device_os", tuple(f"os_{i}" for i in range(8)), _zipf(8, 1.5)),
]

# (feature, kind): one drift per feature, applied to the current sample only.
NUMERIC_DRIFTS = {
    "normal_0": "mean_shift_0.1sd",
    "normal_1": "variance_x1.3",
    "lognormal_0": "tail_5pct_beyond_p99",
    "gamma_1": "stuck_value_10pct",
    "exponential_0": "missing_2_to_10pct",
    "bimodal_0": "mode_weight_swap",
    "lognormal_2": "units_x1000_on_3pct",
    "normal_2": "skew_change_same_mean_sd",
}
CATEGORICAL_DRIFTS = {
    "channel": "level_plus_8_points",
    "country": "new_category_5pct",
    "product": "vanished_category_5pct",
}


def _drift_numeric(kind: str, spec: Num, col: np.ndarray, ref_col: np.ndarray, rng: Rng) -> None:
    """Apply one drift in place to a current column (NaN rows left as they are)."""
    n = len(col)
    ok = ~np.isnan(col)
    if kind == "mean_shift_0.1sd":
        col += 0.1 * spec.sd
    elif kind == "variance_x1.3":  # variance x1.3, i.e. sd x1.14, same mean
        col[:] = spec.mean + (col - spec.mean) * np.sqrt(1.3)
    elif kind == "tail_5pct_beyond_p99":
        # 5 % of rows get values beyond the reference's p99, spread like a lognormal
        # tail above its p99 (log-excess ~ exponential with the tail's mean excess).
        p99 = np.nanquantile(ref_col, 0.99)
        rows = rng.random(n) < 0.05
        col[rows] = p99 * np.exp(rng.exponential(0.5 * 0.37, rows.sum()))
    elif kind == "stuck_value_10pct":
        # a sensor stuck at a plausible reading: the distribution's median, rounded.
        rows = rng.random(n) < 0.10
        col[rows] = round(float(np.nanmedian(ref_col)), 1)
    elif kind == "missing_2_to_10pct":
        extra = ok & (rng.random(n) < (0.10 - MISSING_RATE) / (1 - MISSING_RATE))
        col[extra] = np.nan
    elif kind == "mode_weight_swap":  # bimodal_0: 0.55 / 0.45 becomes 0.45 / 0.55
        col[:] = _bimodal(0.45, -2.0, 2.0, 1.0)(rng, n)
    elif kind == "units_x1000_on_3pct":  # e.g. one client sends grams instead of kg
        rows = rng.random(n) < 0.03
        col[rows] *= 1000.0
    elif kind == "skew_change_same_mean_sd":
        # a gamma with skewness 0.4 (shape 25), standardised to the same mean and sd
        g = rng.gamma(25.0, 1.0, n)
        col[:] = spec.mean + spec.sd * (g - 25.0) / 5.0
    else:  # pragma: no cover
        raise ValueError(kind)
    col[~ok] = np.nan


def _drifted_probs(kind: str, cat: Cat) -> tuple[tuple[str, ...], np.ndarray]:
    levels, p = list(cat.levels), np.array(cat.p)
    if kind == "level_plus_8_points":  # "ios" +8 points, the others scaled down
        j = levels.index("ios")
        rest = np.ones(len(p), bool)
        rest[j] = False
        p[rest] *= (1 - (p[j] + 0.08)) / p[rest].sum()
        p[j] += 0.08
    elif kind == "new_category_5pct":
        levels.append("C_NEW")
        p = np.append(p * 0.95, 0.05)
    elif kind == "vanished_category_5pct":  # the level nearest 5 % drops to 0
        j = int(np.argmin(np.abs(p - 0.05)))
        p[j] = 0.0
        p /= p.sum()
    else:  # pragma: no cover
        raise ValueError(kind)
    return tuple(levels), p


def _draw_side(
    rng: Rng, n: int, specs: list[Num], drift: bool, ref: Data | None
) -> tuple[np.ndarray, list[np.ndarray]]:
    num = np.empty((n, len(specs)), dtype=np.float64, order="F")
    for j, spec in enumerate(specs):
        col = num[:, j]
        col[:] = spec.draw(rng, n)
        missing = spec.missing
        if missing:
            col[rng.random(n) < missing] = np.nan
        if drift and ref is not None and spec.name in NUMERIC_DRIFTS:
            _drift_numeric(NUMERIC_DRIFTS[spec.name], spec, col, ref["numeric"][:, j], rng)
    cats = []
    for cat in CATEGORICAL:
        levels, p = cat.levels, np.array(cat.p)
        if drift and cat.name in CATEGORICAL_DRIFTS:
            levels, p = _drifted_probs(CATEGORICAL_DRIFTS[cat.name], cat)
        codes = rng.choice(len(levels), size=n, p=p / p.sum())
        cats.append(np.array(levels, dtype=object)[codes])
    return num, cats


def make(
    seed: int, n_ref: int = 200_000, n_cur: int = 200_000, drift: bool = True
) -> tuple[Data, Data, list[tuple[str, str]]]:
    """(reference, current, truth); truth lists the injected drifts as (feature, kind).

    Each side is a dict: ``numeric`` (n, 50) float64 (Fortran order, NaN = missing),
    ``numeric_names``, ``categorical`` (five object arrays of str), ``categorical_names``.
    """
    specs = _numeric_specs()
    assert len(specs) == N_NUMERIC
    ref_rng, cur_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    names = [s.name for s in specs]
    cat_names = [c.name for c in CATEGORICAL]
    num, cats = _draw_side(ref_rng, n_ref, specs, False, None)
    ref: Data = {
        "numeric": num,
        "numeric_names": names,
        "categorical": cats,
        "categorical_names": cat_names,
    }
    num, cats = _draw_side(cur_rng, n_cur, specs, drift, ref)
    cur: Data = {
        "numeric": num,
        "numeric_names": list(names),
        "categorical": cats,
        "categorical_names": list(cat_names),
    }
    truth = [*NUMERIC_DRIFTS.items(), *CATEGORICAL_DRIFTS.items()] if drift else []
    return ref, cur, truth


def feature_names() -> list[str]:
    return [s.name for s in _numeric_specs()] + [c.name for c in CATEGORICAL]


def describe() -> list[tuple[str, str, str]]:
    """(feature, shape, missing) for every feature, for the benchmark's notes."""
    out = [
        (s.name, "numeric", f"{s.missing:.0%} NaN" if s.missing else "") for s in _numeric_specs()
    ]
    out += [(c.name, f"categorical, {len(c.levels)} levels", "") for c in CATEGORICAL]
    return out
