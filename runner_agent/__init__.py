"""runner-agent: the health, metrics and lifecycle agent of a Daytona runner host.

The command line (``runner-agent``) is the main interface; the modules below
are importable for tests and tooling but keep heavy imports out of this file
so that ``runner-agent --help`` stays fast.
"""

__version__ = "0.1.0"
