"""``dailystats explain`` for a person: sentences and one aligned table per video.

The machine form is :meth:`daemon.settle.explain.Explanation.as_dict` (``--json``); this
module only renders. A missing video says why it is missing (no key for its provider,
an unresolved short link, a link without a video id); the legend names only the sources
that appear.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from daemon.settings import Settings
from daemon.settle.explain import (
    PLATFORM_COUNTS,
    SOURCES,
    ExplainedCompletion,
    ExplainedVideo,
    Explanation,
)

PLATFORM_NAMES = {"yt": "YouTube", "tt": "TikTok", "dy": "Douyin"}
KEY_FOR = {"yt": "YOUTUBE_API_KEY", "tt": "TIKHUB_API_KEY", "dy": "TIKHUB_API_KEY"}


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def task_name(task: dict[str, Any]) -> str:
    """``task 1 (X2C task 42, project p)``, saying so when X2C's ids are not set."""
    x2c = task.get("external_task_id")
    project = task.get("project_id")
    parts = [f"X2C task {x2c}" if x2c is not None else "no X2C task id"]
    if project is not None:
        parts.append(f"project {project}")
    return f"task {task['task_id']} ({', '.join(parts)})"


def keyless_platforms(settings: Settings) -> set[str]:
    """The platforms whose provider is off for want of a key."""
    off = set() if settings.youtube_api_key else {"yt"}
    return off if settings.tikhub_api_key else off | {"tt", "dy"}


def missing_reason(video: ExplainedVideo, keyless: Collection[str]) -> str:
    """Why a video has no stats at all, as far as explain can tell without fetching."""
    if video.video_id is None and video.short_link is None:
        return "the link names no video"
    if video.short_link is not None and video.video_id is None:
        return "its short link is not resolved yet (tried again at the next scan)"
    if video.platform in keyless:
        return f"no {KEY_FOR[video.platform]} is set, so its provider is off"
    return "no saved stats and no answer from the API yet (asked again at the next scan)"


def render(explanation: Explanation, keyless: Collection[str] = ()) -> str:
    """The explanation as text; ``keyless`` are the platforms whose provider has no key."""
    e = explanation
    completions = sum(len(v.completions) for v in e.videos) + len(e.no_platform)
    lines = [
        f"{task_name(e.task)} on {e.stats_date}: {plural(completions, 'completion')} on "
        f"{plural(len(e.videos), 'video')}"
        + (f", {len(e.no_platform)} of them on no platform" if e.no_platform else "")
        + "."
    ]
    run = e.last_run
    lines.append(
        f"Last scan of the day: #{run['id']} {run['status']} at {run['started_at']:%Y-%m-%d %H:%M}"
        f" UTC ({plural(run['videos_missing'], 'video')} missing, {run['videos_stale']} on"
        " last known stats)."
        if run
        else "Last scan of the day: none."
    )
    if e.stored is not None:
        views = ", ".join(
            f"{PLATFORM_NAMES[p]} {e.stored[f'{p}_view_count']}" for p in PLATFORM_COUNTS
        )
        sent = "sent to X2C" if e.stored["webhook_sent"] else "not sent to X2C"
        lines.append(
            f"Stored row: {plural(e.stored['total_account_count'], 'account')}; views {views};"
            f" {sent}."
        )
    else:
        lines.append("Stored row: none (the day was not scanned with these completions).")
    if e.last_delivery:
        d = e.last_delivery
        lines.append(
            f"Last delivery: {d['id']}, {d['status']} after {plural(d['attempts'], 'attempt')}."
        )
    lines.append("")
    lines.append(f"Videos (source policy {e.policy}):")
    for video in e.videos:
        lines += _video_lines(video, keyless)
    if e.no_platform:
        lines.append("Completions on no platform (counted as accounts only):")
        lines += _completion_table(e.no_platform)
    used = sorted({v.source for v in e.videos})
    if used:
        lines.append("")
        lines.append("Sources:")
        lines += [f"  {s:<10}  {SOURCES[s]}" for s in used if s in SOURCES]
    lines.append("")
    if e.stored is None and e.differs:
        lines.append(
            f"No row is stored for this day yet: `dailystats scan --date {e.stats_date}` writes it."
        )
    elif e.differs:
        lines.append(
            "The stored row differs from what a scan would compute now in "
            f"{', '.join(e.differs)}: `dailystats scan --date {e.stats_date.isoformat()}`"
            " updates it."
        )
    else:
        lines.append("The stored row matches what a scan would compute now.")
    return "\n".join(lines)


def _video_lines(video: ExplainedVideo, keyless: Collection[str]) -> list[str]:
    counts = ", ".join(
        plural(video.counts[k], k.removesuffix("s")) for k in PLATFORM_COUNTS[video.platform]
    )
    node = video.agent_node if video.agent_node is not None else "unassigned"
    lines = [f"  {PLATFORM_NAMES.get(video.platform, video.platform)} {video.name} (node {node})"]
    if video.source == "missing":
        lines.append(f"    missing: {missing_reason(video, keyless)}; counts 0.")
    else:
        lines.append(f"    {video.source}: {counts}.")
    if video.cache is not None:
        partial = ", partial" if video.cache["partial"] else ""
        lines.append(
            f"    last fetch: {video.cache['status']} at "
            f"{video.cache['fetched_at']:%Y-%m-%d %H:%M} UTC{partial}."
        )
    lines += _completion_table(video.completions)
    return lines


def _completion_table(completions: Iterable[ExplainedCompletion]) -> list[str]:
    rows = [
        (
            str(c.id),
            str(c.user_id),
            c.status,
            c.link or "(no link)",
            " ".join(f"{k}={v}" for k, v in c.saved.items() if v is not None) or "-",
        )
        for c in completions
    ]
    if not rows:
        return []
    header = ("user_task", "user", "status", "link", "saved")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    return [
        "    " + "  ".join([*(r[i].ljust(widths[i]) for i in range(4)), r[4]])
        for r in [header, *rows]
    ]
