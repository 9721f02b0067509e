"""What to do when Oracle answers a launch with "Out of host capacity".

Always Free Ampere A1 capacity runs out per availability domain and comes back on its
own, so the error is worth a few spaced retries and, failing that, advice a person can
act on. The decision is pure so it can be tested without an engine.
"""
from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

# How OCI words it, e.g. "500-InternalError, Out of host capacity."
OUT_OF_CAPACITY = "out of host capacity"


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    max_attempts: int = 5
    delay_seconds: int = 60

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts: {self.max_attempts} must be at least 1")
        if self.delay_seconds < 0:
            raise ValueError(f"delay_seconds: {self.delay_seconds} must not be negative")


@dataclass(frozen=True, kw_only=True)
class CapacityDecision:
    retry: bool
    delay_seconds: int
    message: str | None  # None when the error is not about capacity: nothing to add to it


def is_out_of_capacity(error: str) -> bool:
    return OUT_OF_CAPACITY in error.lower()


def capacity_advice(*, availability_domain: str | None, compartment_id: str) -> str:
    ad = availability_domain or "the chosen availability domain"
    list_ads = shlex.join(["oci", "iam", "availability-domain", "list", "--compartment-id", compartment_id])
    return (
        f"Oracle has no free Ampere A1 capacity in {ad} right now. This is temporary on Oracle's side. "
        "Run `pulumi up` again later, or try another availability domain: list them with "
        f"`{list_ads}`, then `pulumi config set --path oci.availabilityDomain '<name>'` and run `pulumi up`. "
        "Always Free instances must be in your tenancy's home region."
    )


def capacity_decision(
    errors: Sequence[str],
    *,
    availability_domain: str | None,
    compartment_id: str,
    policy: RetryPolicy = RetryPolicy(),
) -> CapacityDecision:
    """Retry a capacity failure until ``policy.max_attempts`` launches have failed.

    ``errors`` are the failures so far, newest first (Pulumi's ``ErrorHookArgs.errors``),
    so their count is the number of attempts made.
    """
    if not errors or not is_out_of_capacity(errors[0]):
        return CapacityDecision(retry=False, delay_seconds=0, message=None)
    attempts = len(errors)
    advice = capacity_advice(availability_domain=availability_domain, compartment_id=compartment_id)
    if attempts < policy.max_attempts:
        return CapacityDecision(
            retry=True,
            delay_seconds=policy.delay_seconds,
            message=(
                f"Out of host capacity (attempt {attempts} of {policy.max_attempts}); "
                f"retrying in {policy.delay_seconds}s. {advice}"
            ),
        )
    return CapacityDecision(
        retry=False,
        delay_seconds=0,
        message=f"Out of host capacity; gave up after {attempts} attempts. {advice}",
    )
