"""A local server on 127.0.0.1 that speaks the Anthropic Messages API (and Message Batches), scripted per test.

The real `anthropic` SDK and the stdlib fallback client are both pointed at it with base_url, so tests exercise
real HTTP: tool-use answers, 429/529, malformed JSON, schema-violating answers, timeouts and the spend limit.
Every request body is captured so tests can assert on the defences actually sent.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List

import pytest
from cloudtrail_event import CloudTrailEvent, assumed_role, iam_user

# Valid answers per tool, as Claude would return them through the forced tool call.
ANSWERS: Dict[str, Dict[str, Any]] = {
    "record_analysis": {
        "summary": "Trail logging stopped by ci user",
        "what_happened": "StopLogging on the trail",
        "why_suspicious": ["logging disabled"],
        "attack_sequence": ["defense evasion"],
        "severity": "high",
    },
    "record_intel": {
        "tactic_id": "TA0005",
        "technique_id": "T1562.008",
        "technique_name": "Disable Cloud Logs",
        "iocs": [{"type": "ip", "value": "203.0.113.9"}],
        "rationale": "StopLogging",
    },
    "record_verdict": {
        "verdict": "true_positive",
        "confidence": 0.9,
        "evidence": ["eventName StopLogging"],
        "benign_explanation": "",
        "injection_suspected": False,
    },
    "record_response_plan": {
        "actions": [
            {
                "phase": "contain",
                "action": "Deactivate key",
                "target": "AKIA1",
                "command": "aws iam update-access-key",
            }
        ],
        "requires_approval": True,
        "notes": "draft",
    },
}


class FakeAnthropic:
    def __init__(self) -> None:
        self.requests: List[Dict[str, Any]] = []
        self.paths: List[str] = []
        self.script: List[str] = []  # modes consumed one per /v1/messages request; then `default`
        self.default = "ok"
        self.overrides: Dict[str, Dict[str, Any]] = {}  # tool name -> answer fields to override
        self.batches: Dict[str, List[Dict[str, Any]]] = {}
        self.keys_seen: List[str] = []  # API key of every request (x-api-key or bearer token), in order
        self.results_base = ""  # when set, batches name their results_url on this origin instead
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def message_for(self, body: Dict[str, Any], mode: str) -> Any:
        tool = body["tool_choice"]["name"]
        answer = dict(ANSWERS[tool], **self.overrides.get(tool, {}))
        if mode == "schema":
            answer = dict(answer)
            answer.pop(next(iter(answer)))  # a required field missing
            if tool == "record_verdict":
                answer["confidence"] = 7  # and out of range
        content = [{"type": "tool_use", "id": "toolu_1", "name": tool, "input": answer}]
        if mode == "no_tool":
            content = [{"type": "text", "text": "I think this is benign."}]
        return {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": content,
            "stop_reason": "tool_use",
            "stop_sequence": None,
            "usage": {
                "input_tokens": 1000,
                "output_tokens": 200,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 800,
            },
        }

    @staticmethod
    def key_of(headers: Any) -> str:
        """The key a request carried: the stdlib client sends x-api-key, this SDK version a bearer token."""
        bearer = headers.get("authorization", "")
        return headers.get("x-api-key", "") or (bearer[7:] if bearer.lower().startswith("bearer ") else "")

    def _handler(self) -> Any:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(
                self, status: int, payload: Any, headers: Dict[str, str] = None, raw: bool = False
            ) -> None:
                data = payload.encode() if raw else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("request-id", "req_test")
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                fake.paths.append(self.path)
                fake.keys_seen.append(fake.key_of(self.headers))
                parts = self.path.split("?")[0].strip("/").split("/")
                bid = parts[3] if len(parts) > 3 else ""
                if parts[-1] == "results":
                    lines = "\n".join(json.dumps(r) for r in fake.batches.get(bid, []))
                    self._send(200, lines, raw=True)
                    return
                self._send(200, fake._batch_obj(bid))

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                fake.paths.append(self.path)
                fake.keys_seen.append(fake.key_of(self.headers))
                if self.path.startswith("/v1/messages/batches"):
                    bid = f"msgbatch_{len(fake.batches) + 1}"
                    fake.batches[bid] = []
                    for req in body["requests"]:
                        with fake.lock:
                            fake.requests.append(req["params"])
                        fake.batches[bid].append(
                            {
                                "custom_id": req["custom_id"],
                                "result": {
                                    "type": "succeeded",
                                    "message": fake.message_for(req["params"], "ok"),
                                },
                            }
                        )
                    self._send(200, fake._batch_obj(bid, "in_progress"))
                    return
                with fake.lock:
                    fake.requests.append(body)
                    mode = fake.script.pop(0) if fake.script else fake.default
                if mode == "429":
                    self._send(
                        429,
                        {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}},
                        {"retry-after": "0"},
                    )
                elif mode == "529":
                    self._send(
                        529, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
                    )
                elif mode == "spend":
                    self._send(
                        429,
                        {
                            "type": "error",
                            "error": {
                                "type": "rate_limit_error",
                                "message": "You have reached your specified API usage limits.",
                                "details": {"error_code": "enforced_spend_limit_reached"},
                            },
                        },
                    )
                elif mode == "echo":  # a proxy that copies the request headers into its error text
                    key = fake.key_of(self.headers)
                    headers = "; ".join(f"{k}: {v}" for k, v in self.headers.items())
                    message = f"upstream refused key {key} ({headers})"
                    self._send(502, {"type": "error", "error": {"type": "api_error", "message": message}})
                elif mode == "malformed":
                    self._send(200, '{"id": "msg_1", "content": [', raw=True)
                elif mode == "timeout":
                    time.sleep(1.5)
                    self._send(200, fake.message_for(body, "ok"))
                else:
                    self._send(200, fake.message_for(body, mode))

        return Handler

    def _batch_obj(self, bid: str, status: str = "ended") -> Dict[str, Any]:
        n = len(self.batches.get(bid, []))
        return {
            "id": bid,
            "type": "message_batch",
            "processing_status": status,
            "request_counts": {"processing": 0, "succeeded": n, "errored": 0, "canceled": 0, "expired": 0},
            "created_at": "2024-01-01T00:00:00Z",
            "expires_at": "2024-01-02T00:00:00Z",
            "ended_at": "2024-01-01T00:01:00Z" if status == "ended" else None,
            "cancel_initiated_at": None,
            "archived_at": None,
            "results_url": f"{self.results_base or self.url}/v1/messages/batches/{bid}/results"
            if status == "ended"
            else None,
        }

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def fake_api():
    fake = FakeAnthropic()
    yield fake
    fake.close()


def _row(
    name: str = "StopLogging",
    source: str = "cloudtrail.amazonaws.com",
    user: str = "ci-deployer",
    ua: str = "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64",
    ip: str = "203.0.113.9",
    params: Any = None,
    anomaly: int = 1,
    i: int = 0,
    technique: str = "T1562.008",
    tactic: str = "TA0005",
    role: str = "",
    error: str = "",
    score: float = 0.93,
) -> Dict[str, Any]:
    """A scored row as `cloudtraildetect` hands it to triage: the CloudTrail event plus its ct_* fields."""
    uid = assumed_role(role, "s", principal_id="AROAX:s") if role else iam_user(user, principal_id="AIDAX")
    event = CloudTrailEvent(name, source, identity=uid, ip=ip, ua=ua, error=error or None, version="1.08",
                            params=params if params is not None else {"name": "org-trail"},
                            time=f"2024-05-01T10:{i % 60:02d}:00Z", event_id=f"evt-{name}-{i}")  # fmt: skip
    identity = uid.get("sessionContext", {}).get("sessionIssuer", {}).get("arn", uid["arn"])
    return dict(
        event.as_record(),
        ct_score=score,
        ct_anomaly=anomaly,
        ct_severity="high" if anomaly else "",
        ct_reasons=["first StopLogging by this identity"] if anomaly else [],
        ct_tactic=tactic if anomaly else "",
        ct_technique=technique if anomaly else "",
        ct_identity=identity,
        ct_model="test",
        ct_error="",
    )


@pytest.fixture()
def make_row():
    return _row
