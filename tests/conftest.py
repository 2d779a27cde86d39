"""Settings for the whole test session, made before any test module imports torch or llama.cpp."""

import os

# Offline: a hub id must fail at once instead of retrying for ~50 s.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# llama.cpp's OpenMP threads spin while they wait, which made the embedded model 6-8x slower
# while other tests shared the cores; OpenMP reads this once, when it is first loaded.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
