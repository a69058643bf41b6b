"""ctad.cti"""
