"""The package's version, in its own module so nothing imports ``__init__`` for it.

hatchling reads it from here (``[tool.hatch.version]`` in pyproject.toml).
"""

__version__ = "0.1.0"
