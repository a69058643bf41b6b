"""ctad.elastic"""
