"""`make lab`: JupyterLab opens a chapter as a notebook (Jupytext), runs it like `make chapter`, saves the .py.

The server is the lab extra's JupyterLab, started with the repository's jupyter_config/ and
jupytext.toml files (book/ has the chapters' own) on a free loopback port; it is stopped at the
end and no process of it may survive.
"""
import ast
import difflib
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import types
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from lmc_lib.build import bookbuild, buildrun, newchapter
from lmc_lib.chapters import params, report

REPO = Path(__file__).resolve().parent.parent
NAME = "lab_check"
EDITS = {'profile: str = "cpu"': 'profile: str = "smoke"', "agree_min: float = 0.9": "agree_min: float = 0.8"}
PARAMS = {"profile": "smoke", "agree_min": 0.8}  # the same edits as bookbuild parameters

if importlib.util.find_spec("jupyterlab") is None or importlib.util.find_spec("websocket") is None:
    pytest.fail("JupyterLab (the lab extra) is not installed in this environment: run `make lab-install` "
                "(`make test` and `make lab` install it)", pytrace=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A running JupyterLab server: its process, log, URL and token; REST calls with the token."""

    def __init__(self, root: Path, log: Path, env: dict):
        self.root, self.log, self.port = root, log, _free_port()
        env = dict(env, JUPYTER_CONFIG_PATH=str(REPO / "jupyter_config"))
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={self.port}",
               "--ServerApp.port_retries=0", f"--ServerApp.root_dir={root}"]
        cmd += ["--allow-root"] if os.geteuid() == 0 else []
        with open(log, "w") as out:
            self.proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.base, self.token = self._wait_for_url()

    def _wait_for_url(self, timeout: float = 180.0):
        """The printed http://127.0.0.1:PORT/...?token=... URL, once the server answers on it."""
        start = time.time()
        while time.time() - start < timeout:
            found = re.search(r"http://127\.0\.0\.1:(\d+)/lab\S*\?token=(\w+)", self.log.read_text())
            if found:
                base, token = f"http://127.0.0.1:{found.group(1)}", found.group(2)
                try:
                    urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5)
                    return base, token
                except OSError:
                    pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.5)
        pytest.fail(f"JupyterLab printed no loopback URL with a token / did not answer:\n{self.log.read_text()}")

    def api(self, method: str, path: str, body=None):
        req = urllib.request.Request(f"{self.base}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"token {self.token}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            text = resp.read().decode()
        return json.loads(text) if text else None

    def descendants(self) -> set[int]:
        """Every live process started under the server (its kernels run in sessions of their own)."""
        children, found = {}, set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        todo = [self.proc.pid]
        while todo:
            pid = todo.pop()
            found.add(pid)
            todo += children.get(pid, [])
        return found

    def stop(self) -> set[int]:
        """SIGTERM to the server's process group (SIGKILL after 20 s); the processes that survive."""
        pids = self.descendants()
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        time.sleep(1.0)
        return {p for p in pids if _alive(p)}


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _message(code: str, session: str, **extra) -> dict:
    msg_id = uuid.uuid4().hex
    content = {**dict(code=code, silent=False, store_history=True, user_expressions={}, allow_stdin=False,
                      stop_on_error=True), **extra}
    return dict(header=dict(msg_id=msg_id, msg_type="execute_request", username="test", session=session,
                            version="5.3", date=""), parent_header={}, metadata={}, content=content,
                channel="shell", buffers=[])


def execute(lab: Lab, kernel_id: str, code: str, timeout: float = 900.0, **extra) -> tuple[list, dict]:
    """(outputs, execute_reply content) of one cell run by the server's kernel over its websocket."""
    import websocket

    ws = websocket.create_connection(f"ws://127.0.0.1:{lab.port}/api/kernels/{kernel_id}/channels",
                                     header=[f"Authorization: token {lab.token}"], timeout=timeout)
    try:
        msg = _message(code, uuid.uuid4().hex, **extra)
        ws.send(json.dumps(msg))
        outputs, reply, idle = [], None, False
        while reply is None or not idle:
            got = json.loads(ws.recv())
            if got.get("parent_header", {}).get("msg_id") != msg["header"]["msg_id"]:
                continue
            kind, content = got["msg_type"], got["content"]
            if kind in ("stream", "display_data", "execute_result", "error"):
                outputs.append(dict(content, output_type=kind))
            reply = content if kind == "execute_reply" else reply
            idle = idle or (kind == "status" and content["execution_state"] == "idle")
        return outputs, reply
    finally:
        ws.close()


def _env(root: Path) -> dict:
    """The environment of a kernel outside a build (no LMC_RESULTS, no LMC_PROFILE), models cached in root."""
    env = {k: v for k, v in os.environ.items() if k not in ("LMC_RESULTS", "LMC_PROFILE")}
    return dict(env, LMC_CACHE=str(root / "cache"), LMC_BUILD=str(root / "build"), OMP_NUM_THREADS="1",
                LMC_STUDY_CACHE="0")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on a copy of the book with a generated chapter (the next number)."""
    root = tmp_path_factory.mktemp("lab")
    shutil.copytree(REPO / "book", root / "book", ignore=shutil.ignore_patterns("*.ipynb", "__pycache__"))
    shutil.copy(REPO / "jupytext.toml", root / "jupytext.toml")  # book/ has the chapters' own
    (root / "lmc_lib").mkdir()
    shutil.copy(REPO / "lmc_lib" / "chapters" / "report.py", root / "lmc_lib" / "report.py")
    source = newchapter.new_chapter(NAME, root / "book")
    server = Lab(root, root / "server.log", _env(root))
    try:
        yield server, source
    finally:
        survivors = server.stop()
        for pid in survivors:
            os.kill(pid, signal.SIGKILL)
        assert not survivors, f"processes of the JupyterLab server survived its stop: {sorted(survivors)}"


def _notebook(lab: Lab, path: str) -> dict:
    model = lab.api("GET", f"/api/contents/{path}?type=notebook")
    assert model["type"] == "notebook" and model["format"] == "json"
    return model["content"]


def _as_lab_leaves_it(nb: dict) -> dict:
    """The notebook after a run in JupyterLab: outputs, counts and execution timing in every code cell."""
    for i, c in enumerate(c for c in nb["cells"] if c["cell_type"] == "code"):
        c["outputs"] = [dict(output_type="stream", name="stdout", text=f"OUTPUT {i}\n")]
        c["execution_count"] = i + 1
        c["metadata"]["execution"] = {"iopub.execute_input": "2026-01-01T00:00:00Z"}
    nb["metadata"]["language_info"] = {"name": "python"}
    return nb


def test_every_chapter_opens_as_a_notebook_and_saves_back_unchanged(lab):
    server, _ = lab
    for src in sorted((server.root / "book").glob("[0-9][0-9]_*.py")):
        before = src.read_bytes()
        nb = _notebook(server, f"book/{src.name}")
        tagged = [c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", [])]
        assert len(tagged) == 1 and tagged[0]["cell_type"] == "code" and "profile: str" in tagged[0]["source"]
        assert nb["metadata"]["kernelspec"]["name"] == "python3"
        server.api("PUT", f"/api/contents/book/{src.name}",
                   dict(type="notebook", format="json", content=_as_lab_leaves_it(nb)))
        assert src.read_bytes() == before, f"{src.name} changed by running and saving it unedited"
    assert not list((server.root / "book").glob("*.ipynb")), "a paired .ipynb was written beside the chapters"


def test_a_library_module_saved_from_the_notebook_view_stays_as_it_was(lab):
    server, _ = lab
    module = server.root / "lmc_lib" / "report.py"
    before = module.read_text()
    nb = _notebook(server, "lmc_lib/report.py")
    assert len(nb["cells"]) > 1
    server.api("PUT", "/api/contents/lmc_lib/report.py", dict(type="notebook", format="json",
                                                            content=_as_lab_leaves_it(nb)))
    assert module.read_text() == before


def _run_cells(server: Lab, rel: str, nb: dict) -> list[str]:
    """Run the notebook's code cells top to bottom in a kernel session of the server, as JupyterLab
    does (outputs and counts into the cells); the kernel is the project's python; stdout returned."""
    session = server.api("POST", "/api/sessions", dict(path=rel, name=Path(rel).name, type="notebook",
                                                       kernel=dict(name="python3")))
    kernel, printed = session["kernel"]["id"], []
    _, reply = execute(server, kernel, "", user_expressions={"exe": "__import__('sys').executable"})
    assert Path(ast.literal_eval(reply["user_expressions"]["exe"]["data"]["text/plain"])) == Path(sys.executable)
    for c in (c for c in nb["cells"] if c["cell_type"] == "code"):
        outputs, reply = execute(server, kernel, c["source"])
        assert reply["status"] == "ok", f"cell failed in JupyterLab: {outputs}"
        c["outputs"], c["execution_count"] = outputs, reply["execution_count"]
        printed += [o["text"] for o in outputs if o["output_type"] == "stream" and o["name"] == "stdout"]
    server.api("DELETE", f"/api/sessions/{session['id']}")
    return printed


@pytest.mark.chapters
def test_edited_chapter_runs_in_the_servers_kernel_like_make_chapter_and_saves_only_the_edit(lab, monkeypatch):
    server, source = lab
    rel, before, start = f"book/{source.name}", source.read_text(), time.time()
    nb = _notebook(server, rel)
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    for old, new in EDITS.items():
        assert old in cell["source"]
        cell["source"] = cell["source"].replace(old, new)
    printed = _run_cells(server, rel, nb)

    # the verdict went where `make chapter CH=NN ARGS="-p profile smoke -p agree_min 0.8"` puts it
    number = source.name[:2]
    checked = params.validate(PARAMS, number, source=source)
    job = buildrun.plan([source], [checked], server.root / "build", {}, given=list(PARAMS))[0]
    in_lab = Path(job.env["LMC_RESULTS"]) / "smoke" / f"H1_{number}_fashion_mnist.json"
    assert in_lab.exists(), f"no verdict at {in_lab}: {sorted((server.root / 'build').rglob('*.json'))}"
    book_results = REPO / "_build" / "results" / "smoke" / in_lab.name
    assert not book_results.exists() or book_results.stat().st_mtime < start, "a variant wrote the book's verdict"

    # make chapter's execution of the same parameters on the same model cache: the same verdict
    models = sorted((server.root / "cache").rglob("*"))
    for name, value in dict(_env(server.root), LMC_RESULTS=str(server.root / "papermill")).items():
        monkeypatch.setenv(name, value)
    bookbuild.execute(source, server.root / "executed.ipynb", PARAMS, cwd=source.parent)
    by_build = json.loads((server.root / "papermill" / "smoke" / in_lab.name).read_text())
    by_lab = json.loads(in_lab.read_text())
    for key in ("verdict", "checks", "measured", "setting", "profile", "statement"):
        assert by_lab[key] == by_build[key], key
    assert sorted((server.root / "cache").rglob("*")) == models, "make chapter retrained the lab kernel's models"

    # saving writes the .py alone: exactly the edited lines changed, no output, no .ipynb
    server.api("PUT", f"/api/contents/{rel}", dict(type="notebook", format="json", content=nb))
    after, expected = source.read_text(), before
    for old, new in EDITS.items():
        expected = expected.replace(old, new)
    assert after == expected, "".join(difflib.unified_diff(expected.splitlines(True), after.splitlines(True)))
    lines = {line.strip() for text in printed for line in text.splitlines() if line.strip()}
    assert lines and not any(line in after for line in lines), "an output was written into the .py"
    assert not list(source.parent.glob("*.ipynb"))


# --- where a kernel outside a build records verdicts (report.results_dir), without a server ---
def _in_kernel(monkeypatch, tmp_path, **edits) -> Path:
    """Pretend to be a kernel that ran chapter 02's parameters cell with `edits`: its verdict folder."""
    src = next(bookbuild.BOOK.glob("02_*.py"))
    values = dict(params.chapter_defaults(src), **edits)
    shell = types.SimpleNamespace(user_ns=values)
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    for name in ("LMC_RESULTS", "JPY_SESSION_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LMC_BUILD", str(tmp_path))
    return report.results_dir(values["profile"], "02")


def _bookbuild_results(tmp_path, given: dict) -> Path:
    src = next(bookbuild.BOOK.glob("02_*.py"))
    checked = params.validate(dict(given, profile=given.get("profile", "cpu")), "02", source=src)
    job = buildrun.plan([src], [checked], tmp_path, {}, given=list(given))[0]  # make chapter ARGS="-p ..."
    return Path(job.env.get("LMC_RESULTS") or report.REPO / "_build" / "results")


def test_kernel_with_the_cells_own_parameters_records_the_books_verdicts(monkeypatch, tmp_path):
    monkeypatch.delenv("LMC_PROFILE", raising=False)
    # the book's own folder: <build>/results/<profile>, the build being $LMC_BUILD (here tmp_path)
    assert _in_kernel(monkeypatch, tmp_path) == tmp_path / "results" / "cpu"
    monkeypatch.setenv("LMC_PROFILE", "smoke")  # the profile of the build that started the kernel
    assert _in_kernel(monkeypatch, tmp_path, profile="smoke") == tmp_path / "results" / "smoke"


@pytest.mark.parametrize("edits", [dict(width=2), dict(width=2.0, widths="0.25,1"), dict(c1_gap_pp=3, profile="smoke"),
                                   dict(profile="smoke")])
def test_kernel_with_edited_parameters_records_where_make_chapter_would(monkeypatch, tmp_path, edits):
    monkeypatch.delenv("LMC_PROFILE", raising=False)
    found = _in_kernel(monkeypatch, tmp_path, **edits)
    assert found == _bookbuild_results(tmp_path, edits) / edits.get("profile", "cpu")
    assert found.parent.parent.parent == tmp_path / "variants"
    monkeypatch.setenv("LMC_RESULTS", str(tmp_path / "mine"))  # a build's (or the user's) choice wins
    assert report.results_dir("cpu", "02") == tmp_path / "mine" / "cpu"


def test_the_lab_extra_is_pinned_in_the_lock_as_installed():
    """Every package JupyterLab pulls in (its requirements, recursively) has the lock's exact version."""
    from importlib import metadata

    from packaging.requirements import Requirement

    def key(name):
        return re.sub(r"[-_.]+", "-", name).lower()

    pins = dict(line.split("==", 1) for line in (REPO / "requirements.lock").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    pins = {key(k): v.strip() for k, v in pins.items()}
    seen, todo = set(), ["jupyterlab", "jupytext"]
    while todo:
        name = key(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        dist = metadata.distribution(name)
        assert pins.get(name) == dist.version, f"{name} {dist.version} is not pinned so in requirements.lock"
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    assert {"jupyterlab", "jupyter-server", "jupytext"} <= seen
