"""Tests of the ``decisiontelecom`` command line, one file a module of ``_cli/``."""
