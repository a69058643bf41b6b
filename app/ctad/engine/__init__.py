"""Running detection over files and streams: the Detector, the parallel pipeline, spilling, input readers and
the `ctad detect` front door. Imports core and forest; the adapters (Splunk, Elastic, triage) build on it."""
