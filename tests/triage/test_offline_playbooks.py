"""Each registered recovery playbook of the offline responder against its own example event."""

from __future__ import annotations

import pytest
from ctad.knowledge import KnowledgeBase
from ctad.triage.engine import Triage, TriageConfig
from ctad.triage.offline import RECOVERIES

IDS = [p.build.__name__ for p in RECOVERIES]


def _actions(tmp_path, row):
    triage = Triage(TriageConfig(backend="offline"), knowledge=KnowledgeBase(tmp_path / "kb.sqlite"))
    return triage.run([row])[0]["triage_actions"]


@pytest.mark.parametrize("playbook", RECOVERIES, ids=IDS)
def test_example_event_gets_its_recovery(make_row, tmp_path, playbook):
    source, name, params, text = playbook.example
    assert f"{source}:{name}" in playbook.apis
    actions = _actions(tmp_path, make_row(name=name, source=source, params=params))
    assert any(text in a for a in actions), actions


@pytest.mark.parametrize("playbook", RECOVERIES, ids=IDS)
def test_other_apis_do_not_get_it(make_row, tmp_path, playbook):
    *_, text = playbook.example
    actions = _actions(tmp_path, make_row(name="ListBuckets", source="s3.amazonaws.com", params={}))
    assert not any(text in a for a in actions), actions


def test_a_public_flag_alone_calls_for_the_bucket_playbook(make_row, tmp_path):
    """A bucket policy opened to everyone by an API the playbook does not name still gets the bucket blocked."""
    row = make_row(
        name="PutBucketPublicAccessBlock", source="s3.amazonaws.com", params={"bucketName": "data"}
    )
    assert not any("put-public-access-block" in a for a in _actions(tmp_path, row))
    row = make_row(
        name="DeleteBucketPublicAccessBlock", source="s3.amazonaws.com", params={"bucketName": "data"}
    )
    assert any("put-public-access-block --bucket data" in a for a in _actions(tmp_path, row))


def test_playbooks_keep_their_order(make_row, tmp_path):
    """Actions come in registration order (the responder keeps ten): trail first, created things last."""
    rows = [make_row(name="CreateLoginProfile", source="iam.amazonaws.com", params={"userName": "bob"}, i=0),
            make_row(name="StopLogging", source="cloudtrail.amazonaws.com", params={"name": "t"}, i=1)]  # fmt: skip
    triage = Triage(TriageConfig(backend="offline"), knowledge=KnowledgeBase(tmp_path / "kb.sqlite"))
    actions = triage.run(rows)[0]["triage_actions"]
    trail = next(i for i, a in enumerate(actions) if "start-logging" in a)
    created = next(i for i, a in enumerate(actions) if "Delete or detach" in a)
    assert trail < created
