"""Local feed servers for the CTI tests: a real TAXII 2.1 server (medallion) and a MISP REST stand-in.

No MISP server can run here, so `FakeMisp` answers the endpoints PyMISP calls (getPyMISPVersion, getVersion,
users/view/me, attributes/restSearch) with JSON shaped like MISP 2.5's answers, checks the API key, and pages
attribute results by `limit`/`page` like MISP does. Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, List, Optional

MEDIA_STIX = "application/stix+json;version=2.1"
TAXII_USER, TAXII_PASSWORD = "analyst", "correct horse battery staple"
MISP_KEY = "Vq9sXDEVjZb5n0AEMhXT7ycrf2bnhDjXqaAR4Hmc"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Medallion:
    """medallion on 127.0.0.1 with the memory backend seeded from a STIX bundle, basic auth, small pages."""

    def __init__(self, workdir: Path, bundle: Dict[str, Any], user: str, password: str, page_size: int = 3):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.api_root = f"{self.base}/trustgroup1/"
        self.collection = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"
        manifest = [
            {
                "id": o["id"],
                "date_added": "2024-06-01T00:00:00.000Z",
                "version": o["modified"],
                "media_type": MEDIA_STIX,
            }
            for o in bundle["objects"]
        ]
        data = {
            "/discovery": {
                "title": "ctad test TAXII",
                "description": "medallion memory backend",
                "default": self.api_root,
                "api_roots": [self.api_root],
            },
            "trustgroup1": {
                "information": {
                    "title": "Test trust group",
                    "description": "",
                    "versions": ["application/taxii+json;version=2.1"],
                    "max_content_length": 9765625,
                },
                "status": [],
                "collections": [
                    {
                        "id": self.collection,
                        "title": "CloudTrail IOCs",
                        "description": "",
                        "can_read": True,
                        "can_write": False,
                        "media_types": [MEDIA_STIX],
                        "objects": bundle["objects"],
                        "manifest": manifest,
                    },
                    {
                        "id": "52892447-4d7e-4f70-b94d-d7f22742ff63",
                        "title": "Write-only drop box",
                        "description": "",
                        "can_read": False,
                        "can_write": True,
                        "media_types": [MEDIA_STIX],
                        "objects": [],
                        "manifest": [],
                    },
                ],
            },
        }
        (workdir / "data.json").write_text(json.dumps(data))
        config = {
            "backend": {
                "module": "medallion.backends.memory_backend",
                "module_class": "MemoryBackend",
                "filename": str(workdir / "data.json"),
            },
            "users": {user: password},
            "taxii": {"max_page_size": page_size},
        }
        (workdir / "config.json").write_text(json.dumps(config))
        exe = shutil.which("medallion", path=str(Path(sys.executable).parent)) or shutil.which("medallion")
        cmd = [exe] if exe else [sys.executable, "-m", "medallion.scripts.run"]
        self.log = open(workdir / "medallion.log", "w")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            cmd + ["--host", "127.0.0.1", "--port", str(self.port), str(workdir / "config.json")],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self._wait()

    def _wait(self) -> None:
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"medallion exited with {self.proc.returncode}")
            try:
                urllib.request.urlopen(f"{self.base}/taxii2/", timeout=1)
            except urllib.error.HTTPError:
                return  # 401: it is up and wants auth
            except OSError:
                time.sleep(0.2)
                continue
            return
        raise RuntimeError("medallion did not start within 30 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def misp_attribute(
    aid: int, type_: str, value: str, info: str, comment: str = "", tags: Optional[list] = None
) -> dict:
    """An attribute as MISP's attributes/restSearch returns it with includeContext."""
    return {
        "id": str(aid),
        "event_id": "42",
        "object_id": "0",
        "object_relation": None,
        "category": "Network activity",
        "type": type_,
        "to_ids": True,
        "uuid": f"5f4a3c1e-0000-4000-8000-{aid:012d}",
        "timestamp": "1717200000",
        "distribution": "5",
        "sharing_group_id": "0",
        "comment": comment,
        "deleted": False,
        "disable_correlation": False,
        "first_seen": None,
        "last_seen": None,
        "value": value,
        "Event": {
            "org_id": "1",
            "distribution": "1",
            "id": "42",
            "info": info,
            "orgc_id": "1",
            "uuid": "5f4a3c1e-1111-4000-8000-000000000042",
            "publish_timestamp": "1717200000",
        },
        "Tag": tags or [],
    }


class FakeMisp:
    """Answers the MISP REST calls PyMISP makes, with recorded-shape JSON; pages restSearch by limit/page."""

    def __init__(self, key: str, attributes: List[dict]):
        self.key = key
        self.attributes = attributes
        self.searches: List[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _authorised(self) -> bool:
                if self.headers.get("Authorization") == outer.key:
                    return True
                self._send(
                    403,
                    {
                        "name": "Authentication failed. Please make sure you pass the API key of an API enabled user "
                        "along in the Authorization header.",
                        "message": "Authentication failed.",
                        "url": self.path,
                    },
                )
                return False

            def do_GET(self) -> None:  # noqa: N802
                if not self._authorised():
                    return
                if self.path == "/servers/getPyMISPVersion.json":
                    import pymisp

                    self._send(200, {"version": pymisp.__version__})
                elif self.path == "/servers/getVersion":
                    self._send(
                        200,
                        {
                            "version": "2.5.2",
                            "pymisp_recommended_version": "2.5.2",
                            "perm_sync": False,
                            "perm_sighting": False,
                            "perm_galaxy_editor": False,
                            "request_encoding": ["gzip", "br"],
                            "filter_sightings": True,
                        },
                    )
                elif self.path == "/users/view/me":
                    self._send(
                        200,
                        {
                            "User": {
                                "id": "7",
                                "org_id": "1",
                                "email": "soc-bot@example.org",
                                "autoalert": False,
                                "authkey": None,
                                "invited_by": "1",
                                "gpgkey": "",
                                "certif_public": "",
                                "nids_sid": "4000000",
                                "termsaccepted": True,
                                "newsread": "0",
                                "role_id": "3",
                                "change_pw": False,
                                "contactalert": False,
                                "disabled": False,
                                "expiration": None,
                                "current_login": "0",
                                "last_login": "0",
                                "force_logout": False,
                                "date_created": "1717000000",
                                "date_modified": "1717000000",
                            },
                            "Role": {
                                "id": "3",
                                "name": "User",
                                "perm_add": True,
                                "perm_modify": True,
                                "perm_publish": False,
                                "perm_auth": True,
                                "perm_site_admin": False,
                            },
                            "UserSetting": {},
                            "Organisation": {
                                "id": "1",
                                "name": "Example SOC",
                                "uuid": "5f4a3c1e-2222-4000-8000-000000000001",
                            },
                        },
                    )
                elif self.path == "/attributes/describeTypes.json":
                    import pymisp

                    types = json.loads(
                        (Path(pymisp.__file__).parent / "data" / "describeTypes.json").read_text()
                    )
                    self._send(200, {"result": types.get("result", types)})
                else:
                    self._send(404, {"name": "Not Found", "message": "Not Found", "url": self.path})

            def do_POST(self) -> None:  # noqa: N802
                if not self._authorised():
                    return
                length = int(self.headers.get("Content-Length") or 0)
                query = json.loads(self.rfile.read(length) or b"{}")
                if self.path != "/attributes/restSearch":
                    self._send(404, {"name": "Not Found", "message": "Not Found", "url": self.path})
                    return
                outer.searches.append(query)
                wanted = query.get("type") or query.get("type_attribute")
                rows = [a for a in outer.attributes if not wanted or a["type"] in wanted]
                if str(query.get("to_ids", "")).lower() in ("1", "true"):
                    rows = [a for a in rows if a["to_ids"]]
                limit = int(query.get("limit") or 0)
                page = int(query.get("page") or 1)
                if limit:
                    rows = rows[(page - 1) * limit : page * limit]
                self._send(200, {"response": {"Attribute": rows}})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
