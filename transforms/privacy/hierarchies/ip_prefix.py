"""IP addresses reduced to network prefixes: /24 then /16 for IPv4, /48 then /32 for IPv6.

Used by columns the policy classifies `reduce`: the full address (level 0) is never published,
the policy must set min_level to a prefix. Anything that does not parse becomes "invalid".
"""

from __future__ import annotations

import ipaddress
from collections.abc import Hashable
from typing import Literal

from transforms.privacy.hierarchies.base import TOP, Hierarchy, Resolver, Spec

INVALID = "invalid"


class IpPrefixSpec(Spec):
    type: Literal["ip_prefix"]

    def build(self, resolve: Resolver) -> Hierarchy:
        return IpPrefixOperator()


class IpPrefixOperator(Hierarchy):
    def __init__(self) -> None:
        self.level_names = ["address", "prefix_long", "prefix_short", TOP]

    def labels(self, value: Hashable) -> list[str]:
        try:
            ip = ipaddress.ip_address(str(value).strip())
        except ValueError:
            return [INVALID, INVALID, INVALID, TOP]
        long_bits, short_bits = (24, 16) if ip.version == 4 else (48, 32)
        return [
            str(ip),
            str(ipaddress.ip_network(f"{ip}/{long_bits}", strict=False)),
            str(ipaddress.ip_network(f"{ip}/{short_bits}", strict=False)),
            TOP,
        ]
