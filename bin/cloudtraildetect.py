#!/usr/bin/env python
"""`| cloudtraildetect`: thin entry point; the command lives in ctad.splunk.detect_command."""

import _ctad_bootstrap

_ctad_bootstrap.setup()

from ctad.splunk.detect_command import main  # noqa: E402

if __name__ == "__main__":
    main()
