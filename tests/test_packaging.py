"""An installed webtrace (a wheel, not the checkout) still finds its templates and static files."""

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


@pytest.mark.slow
def test_wheel_install_serves_the_page(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "-w", str(wheels), str(ROOT)], check=True, capture_output=True, timeout=300)
    [wheel] = wheels.glob("webtrace-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               check=True, capture_output=True, text=True).stdout.strip())
    # The dependencies come from this environment; webtrace itself only from the wheel.
    (site / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    # --python: install into the new environment only (--prefix would first uninstall
    # the webtrace of the environment running this test).
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)],
                   check=True, capture_output=True, timeout=300)
    script = (
        "import asyncio, webtrace, webtrace.resources as r\n"
        "from aiohttp.test_utils import TestClient, TestServer\n"
        "print(webtrace.__file__); print(r.find_dir('templates')); print(r.find_dir('static'))\n"
        "async def main():\n"
        "    async with TestClient(TestServer(webtrace.create_app())) as c:\n"
        "        page = await (await c.get('/')).text()\n"
        "        css = await c.get('/static/style.css')\n"
        "        js = await c.get('/static/js/main.js')\n"
        "        print(page.count('<form'), css.status, js.status)\n"
        "asyncio.run(main())\n"
    )
    out = subprocess.run([str(python), "-c", script], check=True, capture_output=True, text=True,
                         cwd=tmp_path, timeout=60).stdout.splitlines()
    module, templates, static, served = out
    assert module.startswith(str(venv)) and templates.startswith(str(venv)) and static.startswith(str(venv))
    assert served == "1 200 200"
