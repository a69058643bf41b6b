"""The command lifecycle: getinfo, then execute chunks until ``finished``, one reply each; errors as messages.

A command subclasses `Command` and overrides `configure` (after the options are parsed from getinfo), `execute`
(one chunk in, one reply body out) and `close`. The loop answers getinfo with the command's type and metadata,
collects info/warning/error messages into each reply's ``inspector.messages`` ([[level, text], ...]) and turns a
fatal error into a reply with ``finished: true`` and ``error`` set: never a traceback on the user's screen.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from typing import IO, Any, Dict, List, Optional, Union

from ctad.splunk.protocol.chunks import Body, Channel, ProtocolError
from ctad.splunk.protocol.options import CommandError, Option, parse_options


class Messages:
    """info/warning/error messages for the next reply's ``inspector.messages``."""

    def __init__(self) -> None:
        self.items: List[List[str]] = []
        self._seen: set = set()

    def add(self, level: str, text: str) -> None:
        key = (level, text)
        if key in self._seen:
            return
        self._seen.add(key)
        self.items.append([level.upper(), text])

    def info(self, text: str) -> None:
        self.add("INFO", text)

    def warn(self, text: str) -> None:
        self.add("WARN", text)

    def error(self, text: str) -> None:
        self.add("ERROR", text)

    def take(self) -> Optional[Dict[str, Any]]:
        if not self.items:
            return None
        out = {"messages": self.items}
        self.items = []
        return out


class Command:
    """Base for commands on this layer: override `configure`, `execute` and (for stateful ones) `finish`."""

    name = "command"
    type = "stateful"
    options: Dict[str, Option] = {}

    def __init__(self) -> None:
        self.messages = Messages()
        self.info: Dict[str, Any] = {}
        self.opts: Dict[str, Any] = {}

    # hooks
    def configure(self) -> None:
        """After options are parsed (self.opts, self.info); raise CommandError for a user-facing failure."""

    def execute(self, body: bytes, finished: bool) -> Union[bytes, Body]:
        """One execute chunk; returns this reply's body (CSV bytes or a Body)."""
        raise NotImplementedError

    def getinfo_reply(self) -> Dict[str, Any]:
        return {"type": self.type, "generating": False, "required_fields": ["*"]}

    def close(self) -> None:
        """Release what the command holds (files in the dispatch dir, worker processes).

        Called once the run ends however it ends: after the last reply, after an error, and when splunkd ends
        the search early (cancel: end of input or SIGTERM), so nothing received is left behind on disk.
        """

    # driver
    def run(self, infile: IO[bytes], outfile: IO[bytes]) -> int:
        chan = Channel(infile, outfile)
        try:
            return self._serve(chan)
        except ProtocolError as exc:  # only Channel.read raises it: what came in is not the protocol
            chan.write({"finished": True, "error": f"{self.name}: {exc}"})
            return 1
        finally:
            try:
                self.close()
            except Exception:  # cleanup must not replace the answer already sent
                self._log_exception()

    def _serve(self, chan: Channel) -> int:
        first = chan.read()
        if first is None:
            return 0
        meta, _ = first
        if meta.get("action") != "getinfo":
            chan.write(
                {"finished": True, "error": f"{self.name}: expected getinfo, got {meta.get('action')!r}"}
            )
            return 1
        self.info = meta.get("searchinfo") or {}
        reply = self.getinfo_reply()
        try:
            self.opts = parse_options(self.info.get("args") or [], self.options, self.name)
            self.configure()
        except CommandError as exc:
            return self._fail(chan, reply, str(exc))
        except Exception as exc:  # never a traceback on the user's screen; the details go to search.log
            self._log_exception()
            return self._fail(chan, reply, f"{self.name}: cannot start: {type(exc).__name__}: {exc}")
        inspector = self.messages.take()
        if inspector:
            reply["inspector"] = inspector
        chan.write(reply)
        while True:
            chunk = chan.read()
            if chunk is None:
                return 0
            meta, body = chunk
            finished = bool(meta.get("finished"))
            if meta.get("action") != "execute":
                return self._fail(chan, {}, f"{self.name}: expected execute, got {meta.get('action')!r}")
            try:
                out = self.execute(body, finished)
            except CommandError as exc:
                return self._fail(chan, {}, str(exc))
            except Exception as exc:
                self._log_exception()
                return self._fail(chan, {}, f"{self.name} failed: {type(exc).__name__}: {exc}")
            reply = {"finished": finished}
            inspector = self.messages.take()
            if inspector:
                reply["inspector"] = inspector
            chan.write(reply, out)
            if finished:
                return 0

    def _fail(self, chan: Channel, reply: Dict[str, Any], message: str) -> int:
        self.messages.error(message)
        reply = dict(reply, finished=True, error=message, inspector=self.messages.take())
        chan.write(reply)
        return 1

    @staticmethod
    def _log_exception() -> None:
        import traceback

        traceback.print_exc(file=sys.stderr)  # splunkd copies a command's stderr into search.log


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def dispatch(command: Command) -> None:
    """Entry point for bin/*.py: speak the protocol on stdin/stdout and exit with the command's status.

    SIGTERM (how a cancelled search may end) becomes SystemExit so that `Command.close` still runs.
    """
    with contextlib.suppress(ValueError, OSError):  # not the main thread, or no SIGTERM on this platform
        signal.signal(signal.SIGTERM, _terminate)
    sys.exit(command.run(sys.stdin.buffer, sys.stdout.buffer))
