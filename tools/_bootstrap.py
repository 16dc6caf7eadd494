"""Puts the repository on sys.path when a tool runs as `python tools/<tool>.py`."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
