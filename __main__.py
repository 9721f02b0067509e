"""backing-services: PostgreSQL, Redis, S3, LiveKit and Caddy on local Docker or an OCI Ampere VM.

Config is read and validated once; the target is chosen once; components get the
target's providers and strategies and never look at the stack themselves.
"""
from config import load_stack_config
from stack.compose import compose_services
from stack.exports import export_stack
from targets import build_target

cfg = load_stack_config()  # raises before any resource is registered when config is wrong
target = build_target(cfg)
services = compose_services(cfg, target)
export_stack(cfg, target, services)
