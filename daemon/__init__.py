"""dailystats: a Telegram bot's task completions, aggregated per day and delivered to X2C.

The root holds only the entry points (``__main__``, ``cli``) and ``settings``. Each
package is one capability; imports point only down this order (lowest first):

    settings, rules < store < fetch, webhook < scan < settle < run < demo < cli

``tests/deploy/test_layers.py`` holds the code to it.
"""

__version__ = "0.1.0"
