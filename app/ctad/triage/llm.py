"""Two clients for the Anthropic Messages API with one error model and one retry policy.

* `SDKClient` uses the official `anthropic` SDK (the CLI; it is built on httpx2, pulls in pydantic-core).
* `StdlibClient` speaks the same HTTP API with urllib only, for Splunk, where the SDK is not vendored because
  pydantic-core is compiled.

Both return the response as a plain dict and raise `LLMError` with a `kind`. Retries are done here, not in the
SDK (it runs with max_retries=0): one policy for both transports, `retry-after` honoured, and the 429 that says
`enforced_spend_limit_reached` is never retried (it does not clear until the billing period or limit changes).

The key is guarded here too: `check_base_url` (https only; plain http only to this machine), requests only to the
configured origin (a batch `results_url` elsewhere is not followed), and `redact` on every error message.
"""

from __future__ import annotations

import json
import random
import re
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Set, Tuple

from ctad.core.errors import CtadError

API_VERSION = "2023-06-01"
DEFAULT_BASE_URL = "https://api.anthropic.com"
RETRYABLE = ("rate_limited", "overloaded", "server", "timeout", "connection")
FATAL_FOR_RUN = ("spend_limit", "auth")  # stop calling the API for the rest of the run


# ------------------------------------------------------------------------------------------------ secrets
_SECRETS: Set[str] = set()  # every API key a client of this process was given
_SECRET_SHAPES = re.compile(
    r"(sk-ant-[A-Za-z0-9_\-]{6,})"  # Anthropic key shape, even one this process was not given
    r"|((?i:\b(?:x-api-key|api[_-]?key|authorization|proxy-authorization)\b[\"']?\s*[:=]\s*[\"']?"
    r"(?:bearer\s+|basic\s+)?))[^\s\"',;}]+"  # a header or field that carries a credential
)


def remember_secret(value: str) -> None:
    """Register a key so that `redact` removes it from every message, whichever error path carries it."""
    if value and len(value) >= 8:
        _SECRETS.add(value)
        _SECRETS.add(urllib.parse.quote(value, safe=""))


def redact(text: Any, secrets: Iterable[str] = ()) -> str:
    """`text` without any API key: the keys given, every key a client was given, and key-shaped strings.

    The one function every error path uses (LLMError messages, triage_error, stderr, Splunk messages): a proxy
    or server that echoes the request headers back in its error text must not put the key in a search result.
    """
    out = str(text)
    for secret in sorted(set(_SECRETS).union(s for s in secrets if s and len(s) >= 8), key=len, reverse=True):
        out = out.replace(secret, "[redacted]")

    def _scrub(m: re.Match[str]) -> str:
        return "[redacted]" if m.group(1) else m.group(2) + "[redacted]"

    return _SECRET_SHAPES.sub(_scrub, out)


# ---------------------------------------------------------------------------------------------- endpoints
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


class TriageConfigError(CtadError, ValueError):
    """A triage setting cannot be used (the API base URL, a missing key); the message says which and why."""


def check_base_url(url: str) -> str:
    """The API base URL if the key may be sent there (https; plain http only to this machine), else TriageConfigError.

    The key goes in a header on every request, so the endpoint is an admin's decision (CLI flag or environment,
    ctad.conf in Splunk), never a search option, and never clear text across a network.
    """
    url = (url or DEFAULT_BASE_URL).strip()
    parts = urllib.parse.urlsplit(url)
    shown = f"{parts.scheme}://{parts.hostname or ''}"
    if parts.username or parts.password:
        raise TriageConfigError(f"API base URL {shown} must not carry credentials")
    if parts.query or parts.fragment:
        raise TriageConfigError(f"API base URL {shown} must not have a query or fragment")
    if not parts.hostname:
        raise TriageConfigError(f"API base URL {url[:80]!r} has no host")
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOCAL_HOSTS):
        return url.rstrip("/")
    raise TriageConfigError(
        f"API base URL {shown} refused: the API key is only sent over https "
        "(plain http only to 127.0.0.1/localhost, for local test servers)"
    )


def _origin(url: str) -> Tuple[str, str, Optional[int]]:
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    default = {"https": 443, "http": 80}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port if port is not None else default


def same_origin(url: str, base_url: str) -> bool:
    """True when `url` is on the configured API's scheme, host and port (where the key may go)."""
    return _origin(url) == _origin(base_url)


class LLMError(CtadError):
    """A failed call: `kind` says what failed (and whether trying again can help). The message is redacted."""

    def __init__(
        self, kind: str, message: str, status: Optional[int] = None, retry_after: Optional[float] = None
    ):
        super().__init__(redact(message))
        self.kind = kind
        self.status = status
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE

    def short(self) -> str:
        return f"{self.kind}" + (f" (HTTP {self.status})" if self.status else "") + f": {str(self)[:200]}"


def _retry_after(headers: Optional[Mapping[str, str]]) -> Optional[float]:
    if not headers:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value:
            try:
                return max(0.0, float(value) * scale)
            except ValueError:
                continue
    return None


def classify(status: int, body: Any, headers: Optional[Mapping[str, str]] = None) -> LLMError:
    """The LLMError for an HTTP error answer (status + decoded body)."""
    err = body.get("error") if isinstance(body, dict) else None
    err = err if isinstance(err, dict) else {}
    etype = str(err.get("type") or "")
    details = err.get("details") if isinstance(err.get("details"), dict) else {}
    code = str(details.get("error_code") or "")
    # redacted before it is cut: a cut through a key would leave a prefix no exact match finds
    message = redact(err.get("message") or (body if isinstance(body, str) else "") or f"HTTP {status}")[:300]
    text = f"{etype} {code} {message}".lower()
    if "spend_limit_reached" in text or (status == 429 and "spend limit" in text):
        return LLMError("spend_limit", message, status)
    if status == 429:
        return LLMError("rate_limited", message, status, _retry_after(headers))
    if status == 529 or etype == "overloaded_error":
        return LLMError("overloaded", message, status, _retry_after(headers))
    if status in (401, 403):
        return LLMError("auth", message, status)
    if status in (408, 409) or status >= 500:
        return LLMError("server", message, status, _retry_after(headers))
    return LLMError("bad_request", message, status)


class RetryPolicy:
    """Exponential backoff with jitter, capped; `retry-after` wins when the server sends it."""

    def __init__(
        self,
        retries: int = 2,
        base: float = 0.5,
        cap: float = 20.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.retries = retries
        self.base = base
        self.cap = cap
        self.sleep = sleep

    def call(self, fn: Callable[[], Any], on_retry: Optional[Callable[[LLMError], None]] = None) -> Any:
        attempt = 0
        while True:
            try:
                return fn()
            except LLMError as exc:
                if not exc.retryable or attempt >= self.retries:
                    raise
                delay = exc.retry_after if exc.retry_after is not None else self.base * (2**attempt)
                delay = min(self.cap, delay) * (
                    1.0 if exc.retry_after is not None else 0.75 + random.random() / 2
                )
                attempt += 1
                if on_retry:
                    on_retry(exc)
                self.sleep(delay)


class StdlibClient:
    """The Messages API over urllib: no dependency beyond the standard library."""

    name = "stdlib"

    def __init__(self, api_key: str, base_url: str = DEFAULT_BASE_URL, timeout: float = 60.0):
        self.api_key = api_key
        remember_secret(api_key)
        self.base_url = check_base_url(base_url)
        self.timeout = timeout
        self._ctx = ssl.create_default_context()

    def _request(self, method: str, path: str, body: Any = None, raw: bool = False) -> Any:
        url = path if path.startswith(("http:", "https:")) else self.base_url + path
        if not same_origin(url, self.base_url):  # the key header goes only to the configured API
            raise LLMError("unsafe_url", f"refused to send the API key to {_origin(url)[1] or url[:40]}")
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            url,
            data=data,
            method=method,
            headers={
                "x-api-key": self.api_key,
                "anthropic-version": API_VERSION,
                "content-type": "application/json",
                "accept": "application/json",
                "user-agent": "ctad-triage-stdlib/1",
            },
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self._ctx) as resp:
                text = resp.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            try:
                payload = exc.read().decode("utf-8", "replace")
                parsed: Any = json.loads(payload)
            except (ValueError, OSError):
                parsed = payload if "payload" in locals() else ""
            raise classify(exc.code, parsed, exc.headers) from None
        except (socket.timeout, TimeoutError) as exc:
            raise LLMError("timeout", f"request timed out after {self.timeout}s") from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, (socket.timeout, TimeoutError)):
                raise LLMError("timeout", f"request timed out after {self.timeout}s") from exc
            raise LLMError("connection", f"connection error: {exc.reason}") from exc
        except (ConnectionError, OSError) as exc:
            raise LLMError("connection", f"connection error: {exc}") from exc
        if raw:
            return text
        try:
            return json.loads(text)
        except ValueError:
            raise LLMError("malformed", f"answer is not JSON: {text[:80]!r}") from None

    def create(self, params: Dict[str, Any]) -> Dict[str, Any]:
        out = self._request("POST", "/v1/messages", params)
        if not isinstance(out, dict):
            raise LLMError("malformed", "answer is not a JSON object")
        return out

    def batch_create(self, requests: List[Dict[str, Any]]) -> Dict[str, Any]:
        return self._request("POST", "/v1/messages/batches", {"requests": requests})

    def batch_get(self, batch_id: str) -> Dict[str, Any]:
        return self._request("GET", f"/v1/messages/batches/{batch_id}")

    def batch_results(self, batch_id: str) -> List[Dict[str, Any]]:
        text = self._request("GET", results_path(self.batch_get(batch_id), batch_id, self.base_url), raw=True)
        out = []
        for line in text.splitlines():
            if line.strip():
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
        return out


def results_path(batch: Any, batch_id: str, base_url: str) -> str:
    """Where to fetch a batch's results: its `results_url` when it is on the configured API, else the API's path.

    A `results_url` on another origin (a proxy passing Anthropic's answer through, or a hostile server) would
    receive the key header; the same results are served by the configured API under the documented path.
    """
    url = batch.get("results_url") if isinstance(batch, dict) else None
    if isinstance(url, str) and url.startswith(("http:", "https:")) and same_origin(url, base_url):
        return url
    return f"/v1/messages/batches/{urllib.parse.quote(str(batch_id), safe='')}/results"


class SDKClient:
    """The official SDK with its own retries off (RetryPolicy decides), errors mapped to LLMError."""

    name = "sdk"

    def __init__(self, api_key: str, base_url: str = DEFAULT_BASE_URL, timeout: float = 60.0):
        import anthropic

        self._anthropic = anthropic
        remember_secret(api_key)
        self.base_url = check_base_url(base_url)
        self.client = anthropic.Anthropic(
            api_key=api_key, base_url=self.base_url, timeout=timeout, max_retries=0
        )
        self.timeout = timeout

    def _map(self, exc: Exception) -> LLMError:
        a = self._anthropic
        if isinstance(exc, a.APITimeoutError):
            return LLMError("timeout", f"request timed out after {self.timeout}s")
        if isinstance(exc, a.APIConnectionError):
            return LLMError("connection", f"connection error: {exc}")
        if isinstance(exc, a.APIStatusError):
            return classify(exc.status_code, exc.body, exc.response.headers)
        if isinstance(exc, a.APIResponseValidationError):
            return LLMError("malformed", f"answer does not match the API schema: {exc}")
        if isinstance(exc, (ValueError, a.AnthropicError)):
            return LLMError("malformed", f"{type(exc).__name__}: {str(exc)[:200]}")
        raise exc

    def create(self, params: Dict[str, Any]) -> Dict[str, Any]:
        try:
            return self.client.messages.create(**params).model_dump(mode="json", exclude_none=True)
        except Exception as exc:
            raise self._map(exc) from exc

    def batch_create(self, requests: List[Dict[str, Any]]) -> Dict[str, Any]:
        try:
            return self.client.messages.batches.create(requests=requests).model_dump(mode="json")
        except Exception as exc:
            raise self._map(exc) from exc

    def batch_get(self, batch_id: str) -> Dict[str, Any]:
        try:
            return self.client.messages.batches.retrieve(batch_id).model_dump(mode="json")
        except Exception as exc:
            raise self._map(exc) from exc

    def batch_results(self, batch_id: str) -> List[Dict[str, Any]]:
        # Not messages.batches.results(): it follows whatever results_url the server names, key header included.
        from anthropic._decoders.jsonl import JSONLDecoder
        from anthropic.types.messages import MessageBatchIndividualResponse

        path = results_path(self.batch_get(batch_id), batch_id, self.base_url)
        try:
            decoder = self.client.get(
                path,
                cast_to=JSONLDecoder[MessageBatchIndividualResponse],
                options={"headers": {"Accept": "application/binary"}},
                stream=True,
            )
            return [r.model_dump(mode="json", exclude_none=True) for r in decoder]
        except Exception as exc:
            raise self._map(exc) from exc


def make_client(api_key: str, base_url: str = "", timeout: float = 60.0, transport: str = "auto") -> Any:
    """The SDK client when `anthropic` imports (and transport allows), else the stdlib one."""
    if transport in ("auto", "sdk"):
        try:
            return SDKClient(api_key, base_url or DEFAULT_BASE_URL, timeout)
        except ImportError:
            if transport == "sdk":
                raise
    return StdlibClient(api_key, base_url or DEFAULT_BASE_URL, timeout)


def tool_input(message: Dict[str, Any], tool_name: str) -> Dict[str, Any]:
    """The arguments of the forced tool call in a Messages API answer, or LLMError('malformed')."""
    content = message.get("content")
    if not isinstance(content, list):
        raise LLMError("malformed", "answer has no content list")
    for block in content:
        if isinstance(block, dict) and block.get("type") == "tool_use" and block.get("name") == tool_name:
            args = block.get("input")
            if isinstance(args, str):  # some proxies return the arguments as a JSON string
                try:
                    args = json.loads(args)
                except ValueError:
                    raise LLMError("malformed", "tool arguments are not valid JSON") from None
            if not isinstance(args, dict):
                raise LLMError("malformed", "tool arguments are not an object")
            return args
    reason = message.get("stop_reason")
    raise LLMError("malformed", f"no {tool_name} tool call in the answer (stop_reason={reason})")
