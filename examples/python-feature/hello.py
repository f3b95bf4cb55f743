"""Run with `python hello.py` in the dev container: the env's python and packages, no activation."""

import sys

import packaging

print("python:", sys.executable)
print("environment:", sys.prefix)
print("packaging", packaging.__version__, "from", packaging.__file__)
