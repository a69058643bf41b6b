"""ctad.knowledge"""
