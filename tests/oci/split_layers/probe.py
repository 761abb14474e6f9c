"""Imports a few small wheels: the binary tests/oci/split_layers splits into layers."""

import idna
import packaging
import prometheus_client
import six
import typing_extensions

print(idna.__name__, packaging.__name__, prometheus_client.__name__, six.__name__, typing_extensions.__name__)
