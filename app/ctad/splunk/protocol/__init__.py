"""A lean implementation of splunkd's chunked custom search command protocol (v2), stdlib only.

splunkd sends a ``getinfo`` chunk (``searchinfo``: args, dispatch_dir, session_key, splunkd_uri, maxresultrows...),
then ``execute`` chunks whose body is CSV, the last one with ``finished: true``; the command answers each with
exactly one chunk. Split the way splunklib splits its ``searchcommands`` package, one concern a module:

- `chunks`: the transport (``chunked 1.0,<meta_len>,<body_len>`` framing, `Channel`, spooled reply `Body`);
- `csvbody`: the execute body codec (CSV dialect, ``__mv_`` multivalue twins, `parse_csv`, `split_records`,
  `RowReader`, `rows_to_csv`): the measured fast path;
- `options`: ``name=value`` arguments and their validators;
- `command`: the lifecycle (getinfo reply and inspector messages, the execute loop, `dispatch`).

This package exports what a command needs, as ``splunklib.searchcommands`` does, so commands write
``from ctad.splunk import protocol as P`` and `P.Command`, `P.Option`, `P.parse_csv`...
"""

from __future__ import annotations

from ctad.splunk.protocol.chunks import MAX_META_BYTES, Body, Channel, ProtocolError
from ctad.splunk.protocol.command import Command, Messages, dispatch
from ctad.splunk.protocol.csvbody import (
    MV,
    RowReader,
    csv_cell,
    decode_mv,
    encode_mv,
    mv_pairs,
    parse_csv,
    raise_field_limit,
    row_dict,
    rows_to_csv,
    split_records,
    strip_mv,
)
from ctad.splunk.protocol.options import CommandError, Option, boolean, choice, name, number, parse_options

__all__ = [
    "MAX_META_BYTES",
    "MV",
    "Body",
    "Channel",
    "Command",
    "CommandError",
    "Messages",
    "Option",
    "ProtocolError",
    "RowReader",
    "boolean",
    "choice",
    "csv_cell",
    "decode_mv",
    "dispatch",
    "encode_mv",
    "mv_pairs",
    "name",
    "number",
    "parse_csv",
    "parse_options",
    "raise_field_limit",
    "row_dict",
    "rows_to_csv",
    "split_records",
    "strip_mv",
]
