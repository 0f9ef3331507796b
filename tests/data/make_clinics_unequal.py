"""Write clinics_unequal.csv: 30 clinics with 3 to 500 patients each, one score per patient.

Simulated once from the one-way random-effects model with seed 20261205: clinic sizes
log-uniform between 3 and 500 (the smallest set to 3 and the largest to 500), clinic means
mu + tau z_j with mu = 50, tau = 4, and scores clinic mean + sigma e_ij with sigma = 12,
rounded to 0.1. Run from the project: python tests/data/make_clinics_unequal.py

``--groups J --out FILE`` writes the same recipe with J clinics elsewhere (``make
advise-timing`` times ``shrinkstudy advise`` on 100 of them); the default writes the
30-clinic file beside this script, unchanged.
"""

import argparse
from pathlib import Path

import numpy as np

SEED, J, MU, TAU, SIGMA = 20261205, 30, 50.0, 4.0, 12.0


def rows(groups: int = J) -> list[str]:
    rng = np.random.default_rng(SEED)
    sizes = np.round(np.exp(rng.uniform(np.log(3), np.log(500), groups))).astype(int)
    sizes[np.argmin(sizes)], sizes[np.argmax(sizes)] = 3, 500
    means = MU + TAU * rng.standard_normal(groups)
    width = max(2, len(str(groups)))
    out = ["clinic,score"]
    for j, (n, m) in enumerate(zip(sizes, means)):
        out += [f"c{j + 1:0{width}d},{v:.1f}" for v in m + SIGMA * rng.standard_normal(n)]
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--groups", type=int, default=J, help=f"clinics (default {J})")
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("clinics_unequal.csv"))
    args = ap.parse_args()
    args.out.write_text("\n".join(rows(args.groups)) + "\n")
