"""Every periodic task, in one place. Tasks are thin; each calls one service."""

BEAT_SCHEDULE: dict = {}
