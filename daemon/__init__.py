"""dailystats: a Telegram bot's task completions, aggregated per day and delivered to X2C.

The root holds only the entry points (``__main__``, ``cli``) and ``settings``. Each
package is one capability; imports point only down this order (lowest first):

    settings, rules < store < fetch, webhook < scan < settle < run < demo < cli

``tests/deploy/test_layers.py`` holds the code to it.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    # Set at build time from git by setuptools-scm (an editable install: at install time).
    __version__ = version("dailystats")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0.0.0"
