"""Build an Elasticsearch client from CLI options or the environment.

Secrets can come from the environment (``CTAD_ES_API_KEY``, ``CTAD_ES_PASSWORD``) so they stay out of shell
history and ``ps`` output; the command-line flags exist for convenience and override the environment.
"""

from __future__ import annotations

import argparse
import os
import warnings
from typing import Any, Dict, Optional, Tuple

from ctad.core.errors import CtadError
from ctad.engine.argtypes import seconds

ENV_URL = "CTAD_ES_URL"
ENV_API_KEY = "CTAD_ES_API_KEY"
ENV_USER = "CTAD_ES_USER"
ENV_PASSWORD = "CTAD_ES_PASSWORD"
ENV_CA_CERTS = "CTAD_ES_CA_CERTS"


class ConnectionSetupError(CtadError):
    """The options cannot make a client (missing URL, conflicting credentials, library absent)."""


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    """The connection flags every ``ctad elastic`` subcommand shares."""
    group = parser.add_argument_group("connection")
    group.add_argument("--url", default=None, help=f"Elasticsearch URL (or ${ENV_URL})")
    group.add_argument(
        "--api-key",
        default=None,
        help=f"API key: the encoded form, or id:key (or ${ENV_API_KEY}; prefer the variable for secrets)",
    )
    group.add_argument("--user", default=None, help=f"basic-auth user (or ${ENV_USER})")
    group.add_argument("--password", default=None, help=f"basic-auth password (or ${ENV_PASSWORD})")
    group.add_argument("--ca-certs", default=None, help=f"CA bundle for TLS (or ${ENV_CA_CERTS})")
    group.add_argument(
        "--insecure", action="store_true", help="do not verify the TLS certificate (testing only)"
    )
    group.add_argument(
        "--request-timeout", type=seconds(allow_zero=False), default=60.0, help="seconds per request (60)"
    )


def client_kwargs(args: argparse.Namespace, environ: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    """Translate parsed options (+ environment) into ``Elasticsearch(...)`` keyword arguments.

    Kept separate from ``make_client`` so the credential rules are testable without a server.
    """
    env = os.environ if environ is None else environ
    url = args.url or env.get(ENV_URL)
    if not url:
        raise ConnectionSetupError(f"no Elasticsearch URL: pass --url or set ${ENV_URL}")
    api_key = args.api_key or env.get(ENV_API_KEY)
    user = args.user or env.get(ENV_USER)
    password = args.password or env.get(ENV_PASSWORD)
    if api_key and user:
        raise ConnectionSetupError("give either an API key or --user/--password, not both")
    if user and password is None:
        raise ConnectionSetupError(f"--user needs a password (--password or ${ENV_PASSWORD})")
    kwargs: Dict[str, Any] = {
        "hosts": [url],
        "request_timeout": float(args.request_timeout),
        # Transport-level retries cover 429/502/503/504 on whole requests and dropped connections.
        "max_retries": 3,
        "retry_on_timeout": True,
    }
    if api_key:
        if ":" in api_key:
            key_id, _, key = api_key.partition(":")
            kwargs["api_key"] = (key_id, key)
        else:
            kwargs["api_key"] = api_key
    elif user:
        kwargs["basic_auth"] = (user, password)
    ca_certs = args.ca_certs or env.get(ENV_CA_CERTS)
    if ca_certs:
        if not os.path.isfile(ca_certs):
            raise ConnectionSetupError(f"--ca-certs {ca_certs!r} is not a file")
        kwargs["ca_certs"] = ca_certs
    if getattr(args, "insecure", False):
        kwargs["verify_certs"] = False
        kwargs["ssl_show_warn"] = False
    return kwargs


def make_client(args: argparse.Namespace, environ: Optional[Dict[str, str]] = None) -> Any:
    """An ``elasticsearch.Elasticsearch`` client; the import is lazy so ``ctad`` works without the extra."""
    kwargs = client_kwargs(args, environ)
    try:
        from elasticsearch import Elasticsearch
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ConnectionSetupError(
            "the elasticsearch client is not installed: pip install 'ctad[elastic]'"
        ) from exc
    if kwargs.get("verify_certs") is False:
        warnings.warn("TLS certificate verification is off (--insecure)", stacklevel=2)
    return Elasticsearch(**kwargs)


def describe_es_error(exc: BaseException) -> str:
    """A one-line message for client errors (no traceback: the user needs the cause, not our stack)."""
    name = type(exc).__name__
    info = getattr(exc, "info", None) or getattr(exc, "body", None)
    detail = ""
    if isinstance(info, dict):
        err = info.get("error")
        if isinstance(err, dict):
            detail = f" {err.get('type', '')}: {err.get('reason', '')}"
    return f"{name}: {str(exc)[:300]}{detail[:300]}"


def es_errors() -> Tuple[type, ...]:
    try:
        from elastic_transport import TransportError
        from elasticsearch import ApiError
    except ImportError:  # pragma: no cover
        return (OSError,)
    return (ApiError, TransportError)
