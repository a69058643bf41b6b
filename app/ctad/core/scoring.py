"""From the booster's probability to `ct_score`: knowledge priors for high-impact actions, then calibration.

Why not the booster alone: on real accounts it learned from the simulator that an established identity is
benign, and scored `StopLogging` by an identity that ran Terraform minutes earlier at 0.008. Mature SIEM content
alerts on such calls whoever makes them; this module does the same, measurably and with one rule: only evidence
that *this identity does this very action routinely* lowers a high-impact action's prior, never how busy or old
the identity is.

    combined = 1 - (1 - p_model) * (1 - prior)          # noisy-or: either kind of evidence can raise the score
    ct_score = sigmoid(logit(combined) + shift)           # `shift` puts the alert line at 0.5

The prior is a function of the feature row alone, so training computes the very same combined scores on its
out-of-fold predictions and chooses the threshold on them (`ctad.train`), and every front door (CLI, Splunk,
Elastic, parallel workers) gets it through `final_scores`.

Calibration: the booster's probabilities reflect the simulator's base rate, so the alert line sat at 0.0079 and
every score was "near zero". A base-rate change is a shift in log-odds (Bayes), so one shift per model, chosen in
training to put its alert line at 0.5, makes the number readable ("above 0.5: anomalous; 0.95: odds 19 times the
alert line") without changing any ranking: ROC-AUC and PR-AUC are those of `combined`.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Sequence, Tuple

from ctad.core.features import FEATURE_INDEX
from ctad.core.risk_flags import FLAGS, feature_name

# Prior probability that a first-time action of this kind is malicious, by what the request does
# (`ctad.core.risk_flags`). These are knowledge, not fitted numbers: each names a call that SIEM content (Sigma,
# Elastic, Splunk ESCU, Panther) alerts on by itself. Catalogue risk 5 stands for the APIs with no benign reading in
# normal operations (LeaveOrganization, DeleteDetector, ...).
FLAG_PRIOR: Dict[str, float] = {flag.name: flag.prior for flag in FLAGS}
RISK5_PRIOR = 0.6
_FLAG_COLUMNS: Tuple[Tuple[str, int], ...] = tuple(
    (flag.name, FEATURE_INDEX[feature_name(flag.name)]) for flag in FLAGS
)
_API_RISK = FEATURE_INDEX["api_risk"]
_IMPACT = FEATURE_INDEX["impact"]
_ID_ACTION_LOG = FEATURE_INDEX["id_action_log_count"]
_EPS = 1e-12
MAX_SHIFT = 30.0


def _finite(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return 0.0
    return v if math.isfinite(v) else 0.0


def routine_calls(row: Sequence[Any]) -> float:
    """How often this identity made this very request before: same API, same risk flags (log1p in the row)."""
    x = _finite(row[_ID_ACTION_LOG])
    return math.expm1(min(max(x, 0.0), 50.0))


def prior(row: Sequence[Any]) -> float:
    """The knowledge prior of a feature row: the riskiest first-time actions, discounted only by how often this
    identity made this very request before (1 / (1 + n): once before halves it)."""
    if not _finite(row[_IMPACT]) >= 4.0:  # every flag above raises impact to 4 or 5: most rows stop here
        return 0.0
    base = 0.0
    for flag, column in _FLAG_COLUMNS:
        if _finite(row[column]) >= 1.0 and FLAG_PRIOR[flag] > base:
            base = FLAG_PRIOR[flag]
    if _finite(row[_API_RISK]) >= 5.0 and base < RISK5_PRIOR:
        base = RISK5_PRIOR
    if not base:
        return 0.0
    return base / (1.0 + routine_calls(row))


def combine(p_model: float, p_prior: float) -> float:
    """Noisy-or of the model's and the knowledge's probability; a model that gave no number keeps NaN."""
    if p_model != p_model:
        return p_model
    return 1.0 - (1.0 - p_model) * (1.0 - p_prior)


def logit(p: float) -> float:
    p = min(max(p, _EPS), 1.0 - _EPS)
    return math.log(p / (1.0 - p))


def calibrate(p: float, shift: float) -> float:
    """sigmoid(logit(p) + shift), NaN kept (the row gets no score, and says so)."""
    if p != p:
        return p
    z = logit(p) + shift
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-min(z, 700.0)))
    e = math.exp(max(z, -700.0))
    return e / (1.0 + e)


def shift_for(threshold: float) -> float:
    """The log-odds shift that maps a combined-score threshold to 0.5."""
    return max(-MAX_SHIFT, min(MAX_SHIFT, -logit(threshold)))


def final_scores(p_model: Sequence[float], rows: Sequence[Sequence[Any]], shift: float) -> List[float]:
    """ct_score of each row from the booster's probabilities: prior, noisy-or, calibration."""
    return [calibrate(combine(float(p), prior(row)), shift) for p, row in zip(p_model, rows)]
