"""Tests of decisiontelecom_async._http, one file a module."""
