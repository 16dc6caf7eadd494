"""Puts the repository on sys.path when a stage runs as `python run_files/<stage>.py`."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
