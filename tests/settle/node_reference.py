"""A plain Python reference of spec section 9's split, written from the spec's words.

It reads the completions and the users' nodes, never the task row: the property test
holds the stored split against it, and the split's sums against the task row apart.
Video counts here are the saved ones only (every completion of a video carries the
same details, or none): the tests that use it make no fetch.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from zoneinfo import ZoneInfo

from daemon.rules.links import classify_completion
from tests.scan.scan_reference import COMPLETED, MAX_COUNT, Completion, in_day, saved_counts

WHITESPACE = " \t\n\r\f\v"
FIELDS = {"yt": ("view", "like", "comment"), "tt": ("view", "like", "comment")}
FIELDS["dy"] = ("view", "like", "comment", "share", "collect")


def node_of(raw: str | None) -> str:
    """Trimmed; NULL, empty and blank are one unassigned node ('' as stored)."""
    return "" if raw is None else raw.strip(WHITESPACE)


def expected_split(
    completions: list[Completion], nodes: dict[int, str | None], day: date, zone: ZoneInfo
) -> dict[tuple[int, str], dict[str, int]]:
    """(task_id, node) -> the counts of section 3 for that node's share."""
    counted = [
        c for c in completions if c.status in COMPLETED and in_day(c.submitted_at, day, zone)
    ]
    users: dict[tuple[int, str], dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
    done: dict[tuple[int, str], int] = defaultdict(int)
    videos: dict[tuple[int, str, object], list[Completion]] = defaultdict(list)
    for c in counted:
        key = (c.task_id, node_of(nodes.get(c.user_id)))
        kind = classify_completion(c.platform, c.link)
        done[key] += 1
        users[key]["all"].add(c.user_id)
        users[key][kind.platform].add(c.user_id)
        if kind.platform != "other":
            video: object = kind.video_id if kind.video_id is not None else ("alone", c.id)
            videos[(c.task_id, kind.platform, video)].append(c)
    split: dict[tuple[int, str], dict[str, int]] = {}
    for key, total in done.items():
        row = {"total_completion_count": total, "total_account_count": len(users[key]["all"])}
        for p, names in FIELDS.items():
            row[f"{p}_account_count"] = len(users[key][p])
            row.update({f"{p}_{n}_count": 0 for n in names})
        split[key] = row
    for (task_id, platform, _), its in videos.items():
        assert its[0].submitted_at is not None
        first = min(its, key=lambda c: (c.submitted_at, c.id))
        row = split[(task_id, node_of(nodes.get(first.user_id)))]
        best = [
            max((v for v in vs if v is not None), default=None)
            for vs in zip(*(saved_counts(c.details) for c in its), strict=True)
        ]
        for name, value in zip(FIELDS[platform], best, strict=False):
            column = f"{platform}_{name}_count"
            row[column] = min(row[column] + (value or 0), MAX_COUNT)
    return split
