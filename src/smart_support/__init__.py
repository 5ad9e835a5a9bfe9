"""Smart Support: open-source AI customer support that acts, safely."""

__version__ = "0.1.0"
