"""Tests of decisiontelecom_async.callbacks, one file a module."""
