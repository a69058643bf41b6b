"""ctad.report"""
