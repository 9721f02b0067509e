"""The SSH private key a remote target connects with, read once from the configured file."""
from __future__ import annotations

import base64
import binascii
import struct
from pathlib import Path

import pulumi

from config.errors import ConfigError, Problem
from config.loader import PROJECT


def read_private_key(path: str, key: str, *, hint: str = "give the SSH private key's file") -> str:
    """The key file's contents; a missing or unreadable file is a config problem naming ``key``."""
    try:
        return Path(path).expanduser().read_text()
    except OSError as err:
        problem = Problem(f"{PROJECT}:{key}", path, f"cannot read it ({err.strerror}); {hint}")
        raise ConfigError([problem]) from None


# A preview needs no SSH private key, so a pull request's preview runs without one (CI holds none), on every target reached over SSH:
# - pulumi-command's remote Command returns from Create and Update before it dials when the engine
#   says DryRun (provider/pkg/provider/remote/commandController.go:44-46, :71-73@v1.2.1);
# - the docker provider's configure only records host and ssh_opts (terraform-provider-docker
#   internal/provider/provider.go:201-259@v4.5.0, the upstream of pulumi-docker 5); the ssh connection
#   helper and the daemon ping happen in MakeClient (internal/provider/config.go:116-196), called only from
#   resources' Create, Read, Update and Delete, and no resource has a CustomizeDiff. pulumi-docker's own
#   Configure builds a client but skips the ping for ssh:// (provider/provider.go:80-105, image.go:931-949
#   @v5.1.0), and docker/cli starts ssh only when it dials (cli/connhelper/connhelper.go, getConnectionHelper
#   @v28.5.2). A preview without refresh never reaches the VM.
# But the key is an input: every remote Command's `connection.privateKey`. pulumi-command diffs inputs
# with pulumi-go-provider's default diff (it implements no CustomDiff), which compares the whole
# connection and honours only ignoreChanges (infer/resource.go:1155-1253@v1.3.0); a placeholder there
# would show every remote Command as an update. So in such a preview each remote Command also ignores
# changes to that one path: the engine then puts the deployed value back before the diff
# (processIgnoreChanges, pkg/resource/deploy/step_generator.go:1267, :3028-3048; PropertyPath.reset looks
# through secrets, sdk/go/common/resource/properties_path.go:343-363@v3.259.0). `pulumi up` still
# needs the file: outside a preview a missing file is read_private_key's ConfigError.
REMOTE_COMMAND = "command:remote:Command"
PRIVATE_KEY_INPUT = "connection.privateKey"
PREVIEW_PLACEHOLDER_KEY = "<no SSH private key: preview only>"


def ssh_private_key(path: str, key: str, *, hint: str = "give the SSH private key's file") -> str:
    """The key for the remote commands; in a preview without the file, a placeholder they never diff on."""
    try:
        return read_private_key(path, key, hint=hint)
    except ConfigError:
        if not pulumi.runtime.is_dry_run():
            raise
    pulumi.log.warn(
        f"{PROJECT}:{key}: {path} is not readable here; previewing without it "
        "(commands over SSH show no change from it). `pulumi up` needs the key and refuses without it."
    )
    pulumi.runtime.register_stack_transformation(keep_deployed_private_key)
    return PREVIEW_PLACEHOLDER_KEY


def keep_deployed_private_key(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
    """Remote commands compare everything but the private key they connect with (preview without the key only)."""
    if args.type_ != REMOTE_COMMAND:
        return None
    opts = pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(ignore_changes=[PRIVATE_KEY_INPUT]))
    return pulumi.ResourceTransformationResult(args.props, opts)


_OPENSSH_MAGIC = b"openssh-key-v1\x00"


def is_encrypted_private_key(text: str) -> bool:
    """Whether the key file's contents need a passphrase before they can sign.

    OpenSSH's own format names its cipher right after the magic ("none" when unencrypted,
    PROTOCOL.key section 1@V_9_2_P1); PEM keys say so in a header (RFC 1421's Proc-Type, or
    PKCS#8's ENCRYPTED PRIVATE KEY). pulumi-command parses the contents with ssh.ParsePrivateKey when no
    privateKeyPassword is given, and fails on such a key before it tries the ssh-agent
    (provider/pkg/provider/remote/connection.go:106-116@v1.2.1).
    """
    if "Proc-Type: 4,ENCRYPTED" in text or "BEGIN ENCRYPTED PRIVATE KEY" in text:
        return True
    begin, end = "-----BEGIN OPENSSH PRIVATE KEY-----", "-----END OPENSSH PRIVATE KEY-----"
    if begin not in text or end not in text:
        return False
    body = "".join(text.split(begin, 1)[1].split(end, 1)[0].split())
    try:
        raw = base64.b64decode(body)
    except (binascii.Error, ValueError):
        return False
    if not raw.startswith(_OPENSSH_MAGIC) or len(raw) < len(_OPENSSH_MAGIC) + 4:
        return False
    at = len(_OPENSSH_MAGIC)
    (size,) = struct.unpack(">I", raw[at : at + 4])
    return raw[at + 4 : at + 4 + size] != b"none"
