"""The demo (``main``): the whole pipeline on a scratch database with sample data, and
the local fakes it runs against, which the tests and benchmarks use too: YouTube and
TikHub (``fake_providers``, ``fake_tikhub``) and an X2C receiver that verifies both
signatures (``fake_receiver``).

Imports: every package below it; only the command line imports it.
"""
