import shutil

import httpx

from tests.support import ROOT, ProcessServer


def test_a_broken_plugin_is_reported_and_the_good_one_still_works(tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    shutil.copy(ROOT / "plugins" / "010_hello_workflow.py", plugins)
    (plugins / "020_broken_thing.py").write_text("def oops(:\n    pass\n")
    (plugins / "030_no_workflow.py").write_text("VALUE = 1\n")
    env = {"PIPULATE_PLUGINS": str(plugins), "PIPULATE_DATA": str(tmp_path / "data"),
           "BOTIFY_API_TOKEN": "unused", "BOTIFY_API_BASE": "http://127.0.0.1:9/v1"}

    with ProcessServer(tmp_path, env=env) as server:
        home = httpx.get(server.url + "/").text
        started = httpx.post(server.url + "/hello/init", data={"key": ""})
        done = httpx.post(server.url + "/hello/step_01_submit",
                          data={"key": "default-hello-01", "name": "Ann"})
        log = server.log()

    assert "Plugin 020_broken_thing.py failed to load: SyntaxError" in log
    assert "Plugin 030_no_workflow.py failed to load: TypeError" in log
    assert "Plugin 010_hello_workflow.py loaded as /hello." in log
    assert "Broken thing (unavailable)" in home and "No workflow (unavailable)" in home
    assert started.status_code == 200 and 'id="step_01"' in started.text
    assert 'value="Hello, Ann!"' in done.text
