"""Tests of decisiontelecom_async.sandbox, one file a module."""
