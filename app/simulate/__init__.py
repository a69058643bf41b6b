"""ctad.simulate"""
