"""productqa: teach a small language model a product catalog, then chat with it offline."""
import os as _os

# The PyPI torchvision wheel does not load against the CPU torch we pin; Unsloth checks for it at
# import time. Setting this before any Unsloth import keeps a CPU machine working.
_os.environ.setdefault("UNSLOTH_SKIP_TORCHVISION_CHECK", "1")
_os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

__version__ = "0.1.0"
