#!/usr/bin/env python
"""`| ctadbaseline`: thin entry point; the command lives in ctad.splunk.baseline_command."""

import _ctad_bootstrap

_ctad_bootstrap.setup()

from ctad.splunk.baseline_command import main  # noqa: E402

if __name__ == "__main__":
    main()
