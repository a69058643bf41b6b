"""Reformat execute bodies into the output's column order; also runnable as a worker process (stdlib only).

The output of `cloudtraildetect` has one header: the union of every chunk's columns in first-seen order (ct_*
columns excluded, they are appended by the command). Because that union only ever grows by appending, a chunk's
rows can be written as soon as the chunk arrives, in the order of the union *so far*; at the end they only need
empty cells appended for the columns later chunks added, then the ct_* cells.

That work does not depend on the scores, so `cloudtraildetect` hands it to this module running as a separate
process (the search head's second core) while the main process parses and normalises the same rows:

`serve()` runs in a forked child (multiprocessing, fork start method: no exec of any file, which Splunk Cloud
vetting rejects) and talks to the command over a multiprocessing Pipe.
"""

from __future__ import annotations

import contextlib
import csv
import io
from operator import itemgetter
from typing import Any, Dict, List, Sequence, Set, Tuple

# csvbody raises csv's field limit on import: the forked worker parses the same big `_raw` cells.
from ctad.core.jsonio import utf8
from ctad.splunk.protocol.csvbody import parse_csv


class Union:
    """The output's input columns: every chunk's columns in first-seen order, minus the excluded ones."""

    def __init__(self, exclude: Set[str]) -> None:
        self.exclude = exclude
        self.columns: List[str] = []
        self.index: Dict[str, int] = {}

    def add(self, header: Sequence[str]) -> None:
        for col in header:
            if col not in self.index and col not in self.exclude:
                self.index[col] = len(self.columns)
                self.columns.append(col)


def reformat(body: bytes, union: Union) -> Tuple[bytes, int]:
    """(the chunk's rows as CSV in the union-so-far column order, row count); updates the union."""
    header, reader = parse_csv(body)
    union.add(header)
    width = len(header)
    pos = {c: i for i, c in enumerate(header)}
    picks = [pos.get(c, width) for c in union.columns]  # `width` = an appended empty cell
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    pick = itemgetter(*picks) if picks else (lambda cells: ())
    single = len(picks) == 1
    pad = [""] * width
    n = 0
    for cells in reader:
        if len(cells) != width:
            cells = (cells + pad)[:width]
        cells.append("")
        row = pick(cells)
        w.writerow((row,) if single else row)
        n += 1
    return utf8(buf.getvalue()), n


def serve(conn: Any, store_path: str, out_path: str, exclude: Sequence[str]) -> None:
    """Worker loop (a forked process): (offset, length) of each stored body in, byte ranges out at the end.

    Receives tuples until None, reformats each body into `out_path`, then sends [[start, end, rows], ...]. Never
    writes to stdout (inherited from the command: it is splunkd's protocol pipe). Ends quietly if the parent goes.
    """
    union = Union(set(exclude))
    ranges: List[List[int]] = []
    pos = 0
    try:
        with open(store_path, "rb") as store, open(out_path, "wb") as out:
            while True:
                item = conn.recv()
                if item is None:
                    break
                offset, length = item
                store.seek(offset)
                data, n = reformat(store.read(length), union)
                out.write(data)
                ranges.append([pos, pos + len(data), n])
                pos += len(data)
        conn.send(ranges)
    except (EOFError, OSError):
        pass
    except Exception as exc:  # report, the parent falls back to formatting in-process
        with contextlib.suppress(OSError):
            conn.send({"error": f"{type(exc).__name__}: {exc}"})
    finally:
        conn.close()
