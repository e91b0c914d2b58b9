"""``python -m flowseg``: the same command line as ``flowseg``."""

from .cli import main

main(prog_name="flowseg")
