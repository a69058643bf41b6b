"""Scoring a model on labelled CloudTrail (`ctad eval`): the figures of the model card's scorecard."""
