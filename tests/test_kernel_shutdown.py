"""A chapter run ends without interrupting its kernel (no "KeyboardInterrupt caught in kernel."
ERROR line after a good run): bookbuild's kernels use kernelmanager.QuietShutdownKernelManager."""
import asyncio

from jupyter_client.manager import KernelManager
from test_guide import HEADER

from lmc_lib.build import bookbuild
from lmc_lib.build.kernelmanager import QuietShutdownKernelManager


def test_a_chapter_run_never_interrupts_its_kernel(tmp_path, capfd, monkeypatch):
    interrupts, base = [], KernelManager._async_interrupt_kernel

    async def spy(self):
        interrupts.append(type(self).__name__)
        await base(self)
    monkeypatch.setattr(KernelManager, "_async_interrupt_kernel", spy)
    src = tmp_path / "01_tiny.py"
    src.write_text(HEADER + '\n# %%\nprint("done")\n')
    bookbuild.execute(src, tmp_path / "out.ipynb", {}, cwd=tmp_path)
    assert interrupts == []  # the default manager interrupts once, at shutdown
    assert "KeyboardInterrupt caught" not in capfd.readouterr().err


def test_an_interrupt_outside_a_shutdown_still_reaches_the_kernel(monkeypatch):
    sent = []

    async def base(self):
        sent.append(self.shutting_down)
    monkeypatch.setattr(KernelManager, "_async_interrupt_kernel", base)
    km = QuietShutdownKernelManager()
    km.shutting_down = False
    asyncio.run(km._async_interrupt_kernel())
    km.shutting_down = True
    asyncio.run(km._async_interrupt_kernel())
    assert sent == [False]
