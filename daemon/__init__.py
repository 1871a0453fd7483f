"""dailystats: a Telegram bot's task completions, aggregated per day and delivered to X2C."""

__version__ = "0.1.0"
