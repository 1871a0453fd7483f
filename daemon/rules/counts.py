"""The counts of one task and day (spec section 3): the columns of ``task_daily_stats``
and of its split by agent node, in the order every report and payload lists them."""

COUNT_FIELDS = (
    "total_account_count",
    "total_completion_count",
    "yt_account_count",
    "yt_view_count",
    "yt_like_count",
    "yt_comment_count",
    "tt_account_count",
    "tt_view_count",
    "tt_like_count",
    "tt_comment_count",
    "dy_account_count",
    "dy_view_count",
    "dy_like_count",
    "dy_comment_count",
    "dy_share_count",
    "dy_collect_count",
)
