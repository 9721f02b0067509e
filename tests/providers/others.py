"""pulumi-command v1.2.1 and hashicorp/terraform-provider-random (v3.9.0, behind pulumi-random 4.21)."""
from __future__ import annotations

from tests.providers.model import Fact, ResourceFacts

COMMAND_TAG = "@v1.2.1"
RANDOM_TAG = "@v3.9.0"


def _command(typ: str, controller: str) -> ResourceFacts:
    # Only `triggers` carries provider:"replaceOnChanges" (provider/pkg/provider/common/inputs.go:10);
    # every other change is an in-place update that runs `update`, or `create` when unset
    # (infer/resource.go:1132-1152 in pulumi-go-provider; commandController.go:93-99).
    update = Fact("update", f"provider/pkg/provider/{controller}/commandController.go{COMMAND_TAG}")
    return ResourceFacts(
        type=typ,
        fields={
            "triggers": Fact("replace", f"provider/pkg/provider/common/inputs.go:10{COMMAND_TAG}"),
            "create": update,
            "update": update,
            "delete": update,
            "stdin": update,
            "interpreter": update,
            "environment": update,
            "connection": update,
        },
    )


LOCAL_COMMAND = _command("command:local:Command", "local")
REMOTE_COMMAND = _command("command:remote:Command", "remote")

_PW = "internal/provider/resource_password.go"
RANDOM_PASSWORD = ResourceFacts(
    type="random:index/randomPassword:RandomPassword",
    # Every attribute has a RequiresReplace plan modifier.
    fields={
        "length": Fact("replace", f"{_PW}:580-585{RANDOM_TAG}"),
        "special": Fact("replace", f"{_PW}:598-604{RANDOM_TAG}"),
        "minNumeric": Fact("replace", f"{_PW}:668-674{RANDOM_TAG}"),
        "minUpper": Fact("replace", f"{_PW}:678-684{RANDOM_TAG}"),
        "minLower": Fact("replace", f"{_PW}:688-694{RANDOM_TAG}"),
    },
)
_STR = "internal/provider/resource_string.go"
RANDOM_STRING = ResourceFacts(
    type="random:index/randomString:RandomString",
    fields={
        "length": Fact("replace", f"{_STR}:378-383{RANDOM_TAG}"),
        "special": Fact("replace", f"{_STR}:396-402{RANDOM_TAG}"),
    },
)

ALL = (LOCAL_COMMAND, REMOTE_COMMAND, RANDOM_PASSWORD, RANDOM_STRING)
