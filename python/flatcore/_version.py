"""flatcore's version, read once from the installed package's metadata.

pyproject.toml is its only source.
"""

from importlib import metadata

try:
    version: str = metadata.version("flatcore")
except metadata.PackageNotFoundError:  # a source tree that was not installed
    version = "0+unknown"
