"""Boosted-tree evaluation without xgboost or lightgbm: the model file is parsed and walked in pure Python
(numpy accelerates when importable). Standard library only otherwise; may import ctad.core, nothing above."""
