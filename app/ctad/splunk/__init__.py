"""ctad.splunk"""
