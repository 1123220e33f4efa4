"""nbval's kernels talk over Unix sockets, as the runner's do (acai_repro.runner.kernels): the notebooks are checked
by parallel xdist workers, whose kernels would otherwise race for the same TCP ports when they start together."""
import nbval.kernel

from acai_repro.runner.kernels import SyncUnixSocketKernelManager

nbval.kernel.KernelManager = SyncUnixSocketKernelManager
