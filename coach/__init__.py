"""coach: an LLM-assisted debrief coach for reverse mentoring."""

import os

# The index never phones home; set before chromadb is imported anywhere.
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

__version__ = "0.1.0"
