"""ctad.simulate: realistic benign CloudTrail for a simulated organisation, with real attack events replayed onto
its identities as labelled campaigns (training and demo data for the detector).

    from ctad.simulate import SimConfig, generate, write_jsonl
    write_jsonl(generate(SimConfig(seed=7, days=14, events=50_000)), "sim.jsonl.gz")

`ctad.simulate.attacks.technique_ids()` lists the techniques so training can hold whole techniques out.
"""

from __future__ import annotations

from ctad.simulate.attacks import select_techniques, technique_ids, techniques
from ctad.simulate.generator import Plan, SimConfig, generate, plan
from ctad.simulate.writers import S3TreeWriter, Summary, write_jsonl, write_s3_tree

__all__ = [
    "SimConfig",
    "Plan",
    "generate",
    "plan",
    "technique_ids",
    "techniques",
    "select_techniques",
    "write_jsonl",
    "write_s3_tree",
    "S3TreeWriter",
    "Summary",
]
