"""ctad.train"""
