"""ctad.triage"""
