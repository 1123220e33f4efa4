"""Kernel managers whose kernels talk to their client over Unix domain sockets instead of TCP ports.

jupyter_client gives a new kernel five "free" TCP ports by binding port 0 and closing the socket again; the kernel
binds them a second or two later, once its Python has started. Kernels started at the same moment by different
processes (a sweep with ``--jobs 2``, the tests' parallel workers) can be handed the same port in that window: the
second kernel then dies with "Address already in use", or a client ends up waiting forever on a socket another
kernel answers (a known race, nteract/papermill#511). With the ``ipc`` transport each kernel's sockets are files in
a folder of its own, so there is nothing to race for. Where Unix sockets do not exist (Windows) TCP is kept.

The async manager's clients also never wait on a socket without a deadline. A zmq socket wakes an asyncio loop
through an edge-triggered file descriptor; a wake-up that is missed (zeromq/pyzmq#1558, #2173) leaves
``socket.poll(None)`` asleep with the message already there. nbclient waits for a cell's reply that way when a run
has no time limit, and runs here stopped forever exactly so: the kernel idle after a ``widgets.interact`` cell (a
burst of comm messages), the client asleep on the shell socket (jupyter/nbclient#312). :class:`BoundedPollChannel`
turns "wait forever" into one-second polls; a poll that times out asks zmq directly, so a missed wake-up costs at
most a second.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from queue import Empty
from typing import Any

from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.manager import AsyncKernelManager, KernelManager

UNIX_SOCKETS = os.name == "posix"
WAKE_SECONDS = 1.0  # the longest a client sleeps on a socket before asking zmq again


class BoundedPollChannel(AsyncZMQSocketChannel):
    """An async channel whose ``get_msg(timeout=None)`` polls in slices of :data:`WAKE_SECONDS` until a message
    comes; a finite ``timeout`` behaves as before."""

    async def get_msg(self, timeout: float | None = None) -> dict[str, Any]:
        if timeout is not None:
            return await super().get_msg(timeout)
        while True:
            try:
                return await super().get_msg(WAKE_SECONDS)
            except Empty:  # nothing yet (or a missed wake-up, which this poll's own check has now ruled out)
                continue


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
    """The async manager papermill's client starts (``kernel_manager_class=``); its clients read the shell and
    IOPub channels through :class:`BoundedPollChannel`."""

    def client(self, **kwargs: Any):
        kwargs.setdefault("shell_channel_class", BoundedPollChannel)
        kwargs.setdefault("iopub_channel_class", BoundedPollChannel)
        return super().client(**kwargs)


class SyncUnixSocketKernelManager(_UnixSockets, KernelManager):
    """The blocking manager, for clients that use ``KernelManager`` directly (nbval in the tests)."""
