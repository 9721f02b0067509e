"""Mocks for a rollout whose new container never turns healthy, shared by the rollout tests."""
from __future__ import annotations

import pulumi

from tests import harness

CONTAINER = "docker:index/container:Container"


class FailingWait(harness.RecordingMocks):
    """The docker provider's Create when `wait` times out: it errors (errContainerFailedToBeInHealthyState)
    for the container named ``failing``."""

    failing = "web-app"

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        if args.typ == CONTAINER and args.name == self.failing:
            raise Exception("container failed to be in healthy state")
        return super().new_resource(args)


class Recording(harness.RecordingMonitor):
    """Keeps the last instance, so a test can read what was registered before the program failed."""

    last: "Recording | None" = None

    def __init__(self, mocks):
        super().__init__(mocks)
        Recording.last = self
