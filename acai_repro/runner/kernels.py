"""Kernel managers whose kernels talk to their client over Unix domain sockets instead of TCP ports.

jupyter_client gives a new kernel five "free" TCP ports by binding port 0 and closing the socket again; the kernel
binds them a second or two later, once its Python has started. Kernels started at the same moment by different
processes (a sweep with ``--jobs 2``, the tests' parallel workers) can be handed the same port in that window: the
second kernel then dies with "Address already in use", or a client ends up waiting forever on a socket another
kernel answers (a known race, nteract/papermill#511). With the ``ipc`` transport each kernel's sockets are files in
a folder of its own, so there is nothing to race for. Where Unix sockets do not exist (Windows) TCP is kept.
"""
from __future__ import annotations

import os
import shutil
import tempfile

from jupyter_client.manager import AsyncKernelManager, KernelManager

UNIX_SOCKETS = os.name == "posix"


class _UnixSockets:
    """Mixin: transport ``ipc`` with the sockets in a private temporary folder, removed when the kernel shuts down."""

    def __init__(self, **kwargs) -> None:
        self.socket_dir = None
        if UNIX_SOCKETS and "transport" not in kwargs:
            # Short path on purpose: a socket's path must stay under ~100 bytes.
            self.socket_dir = tempfile.mkdtemp(prefix="acai-kernel-")
            kwargs.update(transport="ipc", ip=os.path.join(self.socket_dir, "k"))
        super().__init__(**kwargs)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart and self.socket_dir is not None:
            shutil.rmtree(self.socket_dir, ignore_errors=True)


class UnixSocketKernelManager(_UnixSockets, AsyncKernelManager):
    """The async manager papermill's client starts (``kernel_manager_class=``)."""


class SyncUnixSocketKernelManager(_UnixSockets, KernelManager):
    """The blocking manager, for clients that use ``KernelManager`` directly (nbval in the tests)."""
