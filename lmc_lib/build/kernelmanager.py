"""The kernel manager of a chapter run: no SIGINT to a kernel whose run is over.

jupyter_client interrupts a kernel (SIGINT) before it asks it to shut down. After papermill has run
every cell that interrupt has nothing left to stop, and if it lands while ipykernel is handling a
message it logs "[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel." at the end of a
successful run. `QuietShutdownKernelManager` skips that one interrupt; the shutdown request and,
after `shutdown_wait_time`, the kill still end a kernel that is busy, and every other interrupt
(nbclient's on a cell timeout) is sent as before.
"""
from __future__ import annotations

from jupyter_client.manager import AsyncKernelManager


class QuietShutdownKernelManager(AsyncKernelManager):
    """AsyncKernelManager without the interrupt that opens a shutdown."""

    async def _async_interrupt_kernel(self) -> None:
        if self.shutting_down:  # set by shutdown_kernel before it interrupts
            return
        await super()._async_interrupt_kernel()
