"""`ctad eval --card` puts the scorecard at the top of a model card, once, however often it runs."""

from __future__ import annotations

from ctad.evaluation.cli import CARD_END, CARD_START, card_section, update_card


def _report(auc: float) -> dict:
    f = {"file": "/x/real.jsonl.gz", "events": 10, "attack_events": 2, "roc_auc": auc, "pr_auc": 0.5,
         "recall_at_fpr": 0.5, "precision": 0.5, "recall": 0.5, "false_alerts": 1, "false_alert_rate": 0.125,
         "techniques_hit": 1, "techniques_total": 2, "incidents": 2, "false_incidents": 1,
         "missed_techniques": ["T-two"], "rare_pair_roc_auc": 0.75, "rare_pair_pr_auc": 0.25}  # fmt: skip
    return {"mode": "hunting", "threshold": 0.5, "files": [f]}


def test_card_section_is_inserted_once_and_replaced(tmp_path):
    card = tmp_path / "MODEL_CARD.md"
    card.write_text("# Model card: m\n\n- Date: d\n\n## Data\nrows\n", encoding="utf-8")
    update_card(card, card_section(_report(0.61), "ctad eval real.jsonl.gz"))
    update_card(card, card_section(_report(0.62), "ctad eval real.jsonl.gz"))
    text = card.read_text(encoding="utf-8")
    assert text.count(CARD_START) == text.count(CARD_END) == 1
    assert "| 0.620 |" in text and "0.610" not in text
    assert text.index(CARD_START) < text.index("## Data") and text.startswith("# Model card: m")
    assert "`T-two`" in text
    assert "Naive reference" in text and "`real.jsonl.gz` 0.750 / 0.250" in text
