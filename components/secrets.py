"""Generated credentials: pulumi-random, kept secret from the moment they exist."""
from __future__ import annotations

from urllib.parse import quote

import pulumi
import pulumi_random as random


def generated_password(name: str, *, parent: pulumi.Resource, length: int = 32) -> pulumi.Output[str]:
    # Letters and digits only: the value goes into URLs, YAML and redis.conf without escaping.
    password = random.RandomPassword(
        name,
        length=length,
        special=False,
        min_lower=1,
        min_upper=1,
        min_numeric=1,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return pulumi.Output.secret(password.result)


def password_or_generated(
    given: pulumi.Input[str] | None, name: str, *, parent: pulumi.Resource
) -> pulumi.Output[str]:
    if given is not None:
        return pulumi.Output.secret(given)
    return generated_password(name, parent=parent)


def url_quoted(password: str) -> str:
    """A bring-your-own password may hold '@', '/' or ':', which would break a connection URL."""
    return quote(password, safe="")
