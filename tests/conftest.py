import os
import sys

# tests/ holds helper modules (reference.py, netgen.py) imported by name.
sys.path.insert(0, os.path.dirname(__file__))
