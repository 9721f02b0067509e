"""The "Out of host capacity" decision: bounded retries, then advice naming what to change."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from renderers.oci_capacity import RetryPolicy, capacity_decision, is_out_of_capacity

COMPARTMENT = "ocid1.compartment.oc1..aaaaaaaaexample"
AD = "Uocm:EU-FRANKFURT-1-AD-1"
# As OCI's Terraform provider reports it.
CAPACITY = "500-InternalError, Out of host capacity.\nSuggestion: The service for this resource encountered an error."
OTHER = "400-InvalidParameter, Shape VM.Standard.A1.Flex is not valid"


def decide(errors: list[str], policy: RetryPolicy = RetryPolicy(max_attempts=3, delay_seconds=30)):
    return capacity_decision(errors, availability_domain=AD, compartment_id=COMPARTMENT, policy=policy)


def test_other_errors_pass_through_untouched() -> None:
    for errors in ([], [OTHER], [OTHER, CAPACITY]):
        decision = decide(errors)
        assert (decision.retry, decision.message) == (False, None), errors


def test_capacity_errors_retry_with_a_delay_and_say_so() -> None:
    decision = decide([CAPACITY])
    assert decision.retry is True
    assert decision.delay_seconds == 30
    assert "attempt 1 of 3" in decision.message
    assert "retrying in 30s" in decision.message


def test_after_the_last_attempt_it_gives_up_with_actionable_advice() -> None:
    decision = decide([CAPACITY] * 3)
    assert decision.retry is False
    assert "gave up after 3 attempts" in decision.message
    assert AD in decision.message
    assert "pulumi up" in decision.message
    assert f"oci iam availability-domain list --compartment-id {COMPARTMENT}" in decision.message
    assert "pulumi config set --path oci.availabilityDomain" in decision.message
    assert "home region" in decision.message


def test_unknown_availability_domain_still_reads_well() -> None:
    decision = capacity_decision([CAPACITY], availability_domain=None, compartment_id=COMPARTMENT)
    assert "the chosen availability domain" in decision.message


@pytest.mark.parametrize("text", ["Out of host capacity.", "out of HOST capacity", "InternalError: OUT OF HOST CAPACITY"])
def test_matching_ignores_case(text: str) -> None:
    assert is_out_of_capacity(text)


@pytest.mark.parametrize("policy", [{"max_attempts": 0}, {"delay_seconds": -1}])
def test_policy_must_be_sane(policy: dict) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**policy)


@given(st.integers(min_value=1, max_value=10), st.integers(min_value=1, max_value=12))
def test_retries_are_bounded_by_the_policy(max_attempts: int, failures: int) -> None:
    policy = RetryPolicy(max_attempts=max_attempts, delay_seconds=0)
    decision = capacity_decision([CAPACITY] * failures, availability_domain=AD, compartment_id=COMPARTMENT, policy=policy)
    assert decision.retry is (failures < max_attempts)
    assert decision.message is not None
