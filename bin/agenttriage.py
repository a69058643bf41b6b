#!/usr/bin/env python
"""`| agenttriage`: thin entry point; the command lives in ctad.splunk.triage_command (on ctad.splunk.protocol)."""

import _ctad_bootstrap

_ctad_bootstrap.setup()

from ctad.splunk.triage_command import main  # noqa: E402

if __name__ == "__main__":
    main()
