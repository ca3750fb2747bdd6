"""The rendered book in a real browser: every page of a smoke-profile build opened in headless Chromium.

Chromium is driven over the DevTools protocol on a pipe (--remote-debugging-pipe: no websocket
package needed). `make test` and .ci/run install Chromium (Debian package `chromium`) when missing.
"""
import base64
import fcntl
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from lmc_lib.build import bookbuild

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--remote-debugging-pipe"]
# What the reader sees: the page's text without code, rendered math and scripts.
VISIBLE_TEXT = """(() => {
  const main = (document.querySelector('main') || document.body).cloneNode(true);
  main.querySelectorAll('pre, code, script, style, mjx-container, .MathJax').forEach(e => e.remove());
  main.style.cssText = 'position:absolute; left:-20000px; top:0; width:1000px';
  document.body.appendChild(main);  // innerText keeps line breaks only for rendered elements
  const text = main.innerText;
  main.remove();
  return text; })()"""
UNCAPTIONED = """(() => Array.from(document.querySelectorAll('.cell_output img, figure')).filter(e => {
  const fig = e.tagName === 'FIGURE' ? e : e.closest('figure');
  const cap = fig && fig.querySelector('figcaption');
  return !(cap && cap.innerText.trim()); }).map(e => (e.src || e.id || e.className || e.tagName)
  .toString().slice(-60)))()"""
PHONE = """(async () => { const vw = document.documentElement.clientWidth;
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  await new Promise(r => setTimeout(r, 300));  // lmc.js scales the equations after typesetting
  const imgs = Array.from(document.querySelectorAll('figure img, .cell_output img'))
    .filter(i => i.complete && i.naturalWidth > 0);
  const name = i => (i.currentSrc || i.src).slice(-60);
  const fontPx = i => { const pic = i.closest('picture');
    const src = pic && Array.from(pic.querySelectorAll('source')).find(s => matchMedia(s.media).matches);
    const f = parseFloat((src || i).dataset.fontPx);
    return isNaN(f) ? null : f * i.getBoundingClientRect().width / i.naturalWidth; };
  const outcome = Array.from(document.querySelectorAll('.lmc-result tbody tr')).map(tr => tr.querySelector('td:nth-of-type(6)'))
    .filter(td => td && (td.getBoundingClientRect().right > vw + 1 || td.getBoundingClientRect().width === 0));
  return {overflow: document.documentElement.scrollWidth > vw + 1 ? [document.documentElement.scrollWidth] : [],
          lowres: imgs.filter(i => i.naturalWidth < 1.5 * i.getBoundingClientRect().width).map(name),
          narrow: imgs.filter(i => i.getBoundingClientRect().width < 0.8 * vw - 40).map(name),
          small_text: imgs.filter(i => fontPx(i) === null || fontPx(i) < 9)
                          .map(i => name(i) + ' ' + (fontPx(i) === null ? 'unmeasured' : fontPx(i).toFixed(1) + ' px')),
          side_by_side: imgs.filter(i => { const s = i.closest('picture') && i.closest('picture').querySelector('source');
                                           return s && i.currentSrc !== s.srcset; }).map(name),
          outcome_off_screen: outcome.map(td => td.closest('tr').innerText.slice(0, 60)),
          clipped_tables: Array.from(document.querySelectorAll('main table'))
                          .filter(t => !t.closest('.lmc-result') && t.scrollWidth >
                                       Math.min(t.clientWidth, t.parentElement.clientWidth) + 1)
                          .map(t => t.innerText.slice(0, 40)),
          cut_equations: Array.from(document.querySelectorAll('mjx-container[display="true"]'))
                          .filter(e => e.scrollWidth > e.clientWidth + 1 || e.getBoundingClientRect().right > vw + 1)
                          .map(e => e.textContent.slice(0, 40))}; })()"""
DESKTOP_FIGURES = """(() => Array.from(document.querySelectorAll('picture.lmc-figure img'))
  .filter(i => i.currentSrc !== i.src).map(i => i.src.slice(-40)))()"""
CODE_LIKE = re.compile(r"\{'|\['|'\]|'\}|pair\(s\)|\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")


def python_reprs(text: str) -> list[str]:
    """Lines of visible text (code removed) that show code to a reader: a Python dict or list
    repr, "pair(s)", or a snake_case identifier such as n_pairs or fashion_mnist."""
    return [line.strip()[:100] for line in text.splitlines() if CODE_LIKE.search(line)]


MATHJAX_DONE = """(async () => { if (window.MathJax && MathJax.startup && MathJax.startup.promise)
  await MathJax.startup.promise; return document.querySelectorAll('mjx-container').length; })()"""


def chromium_path() -> str:
    """The Chromium executable; a missing browser fails with the command that installs it."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.fail("Chromium is needed for the browser check: `sudo apt-get install -y chromium` "
                "(`make test` and .ci/run install it when apt-get is available)")


class Chromium:
    """A headless Chromium driven over the DevTools protocol on fds 3/4 (NUL-separated JSON)."""

    def __init__(self, exe: str):
        to_chrome, from_chrome = os.pipe(), os.pipe()
        keep = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_chrome[0], from_chrome[1])]
        self.profile = tempfile.mkdtemp(prefix="lmc-chromium-")

        def child_fds():
            os.dup2(keep[0], 3)
            os.dup2(keep[1], 4)

        self.proc = subprocess.Popen([exe, *FLAGS, f"--user-data-dir={self.profile}"],
                                     preexec_fn=child_fds, close_fds=False,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for fd in (*keep, to_chrome[0], from_chrome[1]):
            os.close(fd)
        self.out, self.inp = to_chrome[1], from_chrome[0]
        self.buf, self.next_id, self.events, self.targets = b"", 0, [], {}

    def send(self, method: str, session: str | None = None, timeout: float = 60, **params):
        """Send one command and wait for its reply; events seen meanwhile are kept."""
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self.out, json.dumps(msg).encode() + b"\0")
        deadline = time.time() + timeout
        while time.time() < deadline:
            reply = self._read()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)
        raise TimeoutError(f"{method}: no reply in {timeout} s")

    def _read(self) -> dict:
        while b"\0" not in self.buf:
            chunk = os.read(self.inp, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def open(self, url: str, width: int = 1400) -> str:
        """Open `url` in a new tab `width` px wide with console, log and network events on;
        returns the session."""
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            self.send(f"{domain}.enable", session)
        self.send("Emulation.setDeviceMetricsOverride", session, width=width, height=2000,
                  deviceScaleFactor=1, mobile=width < 800)
        self.events.clear()
        self.send("Page.navigate", session, url=url)
        self.wait_for("Page.loadEventFired", session)
        self.targets[session] = target
        return session

    def wait_for(self, event: str, session: str, timeout: float = 60) -> None:
        """Wait until `event` arrives on `session`."""
        deadline = time.time() + timeout
        while not any(e.get("method") == event and e.get("sessionId") == session
                      for e in self.events):
            if time.time() > deadline:
                raise TimeoutError(f"no {event} in {timeout} s")
            self.events.append(self._read())

    def evaluate(self, session: str, expression: str):
        """The value of a JavaScript expression in the page (promises awaited)."""
        res = self.send("Runtime.evaluate", session, expression=expression, awaitPromise=True,
                        returnByValue=True)
        if "exceptionDetails" in res:
            raise RuntimeError(f"{expression[:60]}: {res['exceptionDetails']}")
        return res["result"].get("value")

    def screenshot(self, session: str, path: Path) -> None:
        """Save a full-page PNG of the tab (the viewport grown to the page, 1400 px wide)."""
        height = self.evaluate(session, "document.documentElement.scrollHeight")
        self.send("Emulation.setDeviceMetricsOverride", session, width=1400,
                  height=min(height, 16000), deviceScaleFactor=1, mobile=False)
        data = self.send("Page.captureScreenshot", session)["data"]
        Path(path).write_bytes(base64.b64decode(data))

    def close(self) -> None:
        """End the browser and remove its profile."""
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self.out)
        os.close(self.inp)
        shutil.rmtree(self.profile, ignore_errors=True)


def problems_in(events: list, session: str) -> dict:
    """Console errors and network (http/https) requests among a tab's DevTools events."""
    errors, network = [], []
    for e in (e for e in events if e.get("sessionId") == session):
        method, p = e.get("method"), e.get("params", {})
        if method == "Runtime.exceptionThrown":
            errors.append(p["exceptionDetails"].get("exception", {}).get("description")
                          or p["exceptionDetails"].get("text"))
        elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            errors.append(" ".join(str(a.get("value", a.get("description"))) for a in p["args"]))
        elif method == "Log.entryAdded" and p["entry"]["level"] == "error":
            errors.append(f"{p['entry']['text']} {p['entry'].get('url', '')}")
        elif method == "Network.requestWillBeSent":
            url = p["request"]["url"]
            if re.match(r"(https?|wss?)://", url):
                network.append(url)
    return {"errors": errors, "network": network}


def raw_markup(text: str) -> list[str]:
    """Lines of visible text that are unrendered Markdown: $math$ or pipe-table rows."""
    return [line.strip()[:100] for line in text.splitlines()
            if re.search(r"(?<![\w$])\$[^$\s][^$\n]*\$|\$\$", line)
            or re.match(r"\s*\|.*\|\s*$", line) or re.match(r"\s*\|?\s*:?-{3,}:?\s*\|", line)]


def inspect_phone(browser: Chromium, page: Path) -> dict:
    """Open one page 420 px wide (a phone): horizontal overflow, images that are not high-DPI
    (fewer than 1.5 image pixels per screen pixel) or narrower than the column."""
    session = browser.open(page.resolve().as_uri(), width=420)
    found = browser.evaluate(session, PHONE)
    browser.send("Target.closeTarget", targetId=browser.targets.pop(session))
    return found


def inspect_page(browser: Chromium, page: Path, shot: Path | None = None) -> dict:
    """Open one page, wait for MathJax, and collect what the checks need."""
    session = browser.open(page.resolve().as_uri())
    mathjax = browser.evaluate(session, MATHJAX_DONE)
    time.sleep(0.2)  # late console messages
    browser.send("Runtime.evaluate", session, expression="1")
    found = problems_in(browser.events, session)
    text = browser.evaluate(session, VISIBLE_TEXT)
    found.update(mathjax=mathjax, raw=raw_markup(text), code=python_reprs(text),
                 uncaptioned=browser.evaluate(session, UNCAPTIONED),
                 phone_figure_on_desktop=browser.evaluate(session, DESKTOP_FIGURES))
    if shot:
        browser.screenshot(session, shot)
    browser.send("Target.closeTarget", targetId=browser.targets.pop(session))
    return found


@pytest.fixture(scope="module")
def smoke_book(tmp_path_factory, smoke_runs):
    """A smoke-profile build of the whole book into a tmp _build, rendered from the session's smoke
    executions (conftest.smoke_runs: the ones test_book's smoke test checks; each chapter runs once).

    LMC_SMOKE_EXECUTED=<folder of executed notebooks> renders those instead of executing (e.g. a
    full cpu build's _build/executed, with LMC_BROWSER_RESULTS=<its _build/results> for the index's
    verdicts).
    """
    root = tmp_path_factory.mktemp("book")
    executed = Path(os.environ.get("LMC_SMOKE_EXECUTED") or smoke_runs.folder)
    if not os.environ.get("LMC_SMOKE_EXECUTED"):
        failed = [r["error"] for r in map(smoke_runs.run, bookbuild.chapters()) if r["error"]]
        assert not failed, "chapters failed in the smoke profile:\n" + "\n".join(failed)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LMC_CACHE", str(smoke_runs.cache))
        mp.setenv("LMC_RESULTS", os.environ.get("LMC_BROWSER_RESULTS") or str(smoke_runs.results))
        index = bookbuild.render(executed, root, root / "stage", root / "failed")
    return sorted(index.parent.glob("*.html"))


@pytest.fixture(scope="module")
def pages(smoke_book):
    """What the browser found on every page of the smoke book."""
    browser = Chromium(chromium_path())
    try:
        return {p.name: inspect_page(browser, p) for p in smoke_book
                if p.name not in ("genindex.html", "search.html")}
    finally:
        browser.close()


@pytest.fixture(scope="module")
def phone_pages(smoke_book):
    """What the browser found on every chapter page at phone width."""
    browser = Chromium(chromium_path())
    try:
        return {p.name: inspect_phone(browser, p) for p in smoke_book
                if re.match(r"\d\d_", p.name) or p.name == "index.html"}
    finally:
        browser.close()


@pytest.mark.parametrize("check", ["overflow", "lowres", "narrow", "small_text", "side_by_side",
                                   "outcome_off_screen", "clipped_tables", "cut_equations"])
def test_chapters_read_at_phone_width(phone_pages, check):
    """At 420 px: nothing wider than the screen, figures high-DPI, as wide as the column, their
    panels stacked (the phone source shown) and their smallest text at least 9 px as rendered;
    every Result row's outcome on screen; no table wider than its column (lmc.js stacks them);
    no display equation cut or scrolling."""
    bad = {name: found[check] for name, found in phone_pages.items() if found[check]}
    assert not bad, f"{check} at 420 px on {len(bad)} page(s): {json.dumps(bad, indent=1)[:3000]}"


def test_the_phone_check_catches_a_broken_page(tmp_path):
    """A page wider than a phone, with a low-resolution, shrunken figure: all three are reported."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(2, 1), dpi=50)
    fig.savefig(tmp_path / "low.png", dpi=50)
    plt.close(fig)
    page = tmp_path / "bad.html"
    page.write_text("<html><head><meta name='viewport' content='width=device-width'></head><body><main>"
                    "<figure><img src='low.png' style='width:380px'>"
                    "<figcaption>c</figcaption></figure><figure><img src='low.png' style='width:100px'>"
                    "<figcaption>d</figcaption></figure><div style='width:900px'>wide</div></main></body></html>")
    browser = Chromium(chromium_path())
    try:
        found = inspect_phone(browser, page)
    finally:
        browser.close()
    assert found["overflow"] and len(found["lowres"]) == 2 and len(found["narrow"]) == 1


def test_the_phone_check_catches_stacking_text_tables_and_equations(tmp_path):
    """A side-by-side figure shown on a phone, tiny text, an unmeasured image, a Result row whose
    outcome is off-screen and a cut equation: each is reported."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(8, 4), dpi=100)
    fig.savefig(tmp_path / "wide.png", dpi=100)
    plt.close(fig)
    page = tmp_path / "bad.html"
    page.write_text(
        "<html><head><meta name='viewport' content='width=device-width'></head><body><main>"
        "<figure><picture class='lmc-figure'><source media='(min-width: 5000px)' srcset='wide.png' "
        "data-font-px='40'><img src='wide.png' style='width:100%' data-font-px='6'></picture>"
        "<figcaption>a</figcaption></figure>"
        "<figure><img src='wide.png' style='width:100%'><figcaption>b</figcaption></figure>"
        "<div class='lmc-result'><table><tbody><tr><td>check</td><td>q</td><td>1 ± 1</td><td>rule</td>"
        "<td></td><td style='position:relative; left:900px'>yes</td></tr></tbody></table></div>"
        "<table><thead><tr><th>a</th><th>b</th></tr></thead><tbody><tr><td>x</td>"
        "<td style='min-width:900px'>y</td></tr></tbody></table>"
        "<mjx-container display='true' style='display:block; overflow:auto'>"
        "<span style='display:inline-block; width:900px'>x</span></mjx-container></main></body></html>")
    browser = Chromium(chromium_path())
    try:
        found = inspect_phone(browser, page)
    finally:
        browser.close()
    assert len(found["small_text"]) == 2 and any("unmeasured" in t for t in found["small_text"])
    assert found["side_by_side"] and found["outcome_off_screen"] and found["cut_equations"]
    assert found["clipped_tables"]  # a page without lmc.js: the wide table stays wide


def test_the_page_check_finds_code_in_prose():
    text = "widths {'vgg11': [0.125, 0.25]}, 1 pair(s)\nMLPs: fashion_mnist\nA plain sentence."
    assert python_reprs(text) == ["widths {'vgg11': [0.125, 0.25]}, 1 pair(s)", "MLPs: fashion_mnist"]


def test_every_chapter_and_page_is_built(smoke_book):
    names = {p.stem for p in smoke_book}
    expected = {s.stem for s in bookbuild.chapters()} | {"index", "glossary", "references"}
    assert expected <= names, f"pages missing from the build: {sorted(expected - names)}"


@pytest.mark.parametrize("check", ["errors", "network", "raw", "code", "uncaptioned",
                                   "phone_figure_on_desktop"])
def test_pages_in_a_browser(pages, check):
    """No console errors, no http(s) request, no raw $math$ or pipe tables, no Python repr or
    snake_case name outside code, every figure captioned, the drawn layout (not the phone's) at
    1400 px."""
    bad = {name: found[check] for name, found in pages.items() if found[check]}
    assert not bad, f"{check} on {len(bad)} page(s): {json.dumps(bad, indent=1)[:3000]}"


def test_math_is_typeset_by_the_vendored_mathjax(pages):
    assert pages["glossary.html"]["mathjax"] > 0, "MathJax typeset nothing on the glossary page"


def test_the_check_catches_a_broken_page(tmp_path):
    """A page with each defect: the browser check must report every one of them."""
    page = tmp_path / "bad.html"
    page.write_text("<html><body><main><p>The width $w$ and $r_l$ stay raw.</p>\n"
                    "<p>| a | b |</p><p>|---|---|</p>"
                    "<div class='cell_output'><img src='x.png'></div>"
                    "<figure><img src='y.png'><figcaption>Fig. 1 fine</figcaption></figure>"
                    "<pre>$LMC_CACHE is code, not math $HOME</pre>"
                    "<img src='http://127.0.0.1:9/remote.png'>"
                    "<script>console.error('boom'); undefined_function();</script>"
                    "</main></body></html>")
    (tmp_path / "x.png").write_bytes(b"")
    browser = Chromium(chromium_path())
    try:
        found = inspect_page(browser, page)
    finally:
        browser.close()
    assert any("boom" in e for e in found["errors"])
    assert any("undefined_function" in e for e in found["errors"])
    assert found["network"] == ["http://127.0.0.1:9/remote.png"]
    assert [r for r in found["raw"] if "$w$" in r] and "| a | b |" in found["raw"]
    assert not [r for r in found["raw"] if "LMC_CACHE" in r]
    assert found["uncaptioned"] and all("x.png" in u for u in found["uncaptioned"])
