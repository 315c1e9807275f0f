"""06_serve.py driven by the official openai and ollama clients on loopback, with the tiny test model
and the sample catalog: grounded answers with their sources, streaming, follow-ups, bad requests, parallel
clients, and a clean stop on SIGTERM."""
import json
import queue
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from productqa.server import BadRequest, Worker
from tests.conftest import ROOT

openai = pytest.importorskip("openai")
ollama = pytest.importorskip("ollama")

# a question that fits the server's 4096-token context alone, but not with the product's record
# fits the prompt room alone with the system prompt, not with the product's record (sized to prompts/system.txt)
LONG = 'Tell me about "The Backyard Chicken Handbook".' + " Please" * 3900


@pytest.fixture(scope="module")
def server(chat_export, catalog_path):  # noqa: F811
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "06_serve.py"), "--model", str(chat_export),
                             "--catalog", str(catalog_path), "--port", "0", "--threads", "1", "--temperature", "0",
                             "--max-tokens", "24", "--queue", "8", "--log-level", "warning"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    seen = []
    for line in proc.stdout:
        seen.append(line)
        found = re.search(r"OpenAI: http://127\.0\.0\.1:(\d+)/v1", line)
        if found:
            break
    else:
        pytest.fail("06_serve.py did not start:\n" + "".join(seen))
    yield f"http://127.0.0.1:{found.group(1)}", proc
    if proc.poll() is None:
        proc.kill()


def client(server):
    return openai.OpenAI(base_url=server[0] + "/v1", api_key="none", max_retries=0)


def ask(server, messages, **kw):
    return client(server).chat.completions.create(model="productqa", messages=messages, **kw)


def post(server, path, body: bytes):
    request = urllib.request.Request(server[0] + path, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_openai_client_gets_a_grounded_answer_with_its_sources(server, sample_titles):  # noqa: F811
    uid, title = sample_titles[0]
    reply = ask(server, [{"role": "user", "content": f'Tell me about "{title}"'}])
    extra = reply.model_extra
    assert extra["sources"][0]["uid"] == uid and extra["productqa"]["grounded"]
    assert extra["productqa"]["why"] == "title match" and extra["productqa"]["about"][0]["uid"] == uid
    text = reply.choices[0].message.content
    assert text.startswith(extra["productqa"]["answer"]) and f"[1] {uid}" in text  # the Sources block ends it
    assert reply.choices[0].finish_reason in ("stop", "length") and reply.usage.prompt_tokens > 0
    assert [m.id for m in client(server).models.list().data] == ["productqa"]


def test_streaming_gives_the_same_answer_then_the_sources(server, sample_titles):  # noqa: F811
    messages = [{"role": "user", "content": f'Tell me about "{sample_titles[1][1]}"'}]
    whole = ask(server, messages)
    pieces, last = [], None
    for chunk in ask(server, messages, stream=True):
        if chunk.choices:
            pieces.append(chunk.choices[0].delta.content or "")
        else:
            last = chunk.model_extra
    assert "".join(pieces) == whole.choices[0].message.content
    assert last["sources"] == whole.model_extra["sources"]


def test_a_follow_up_is_about_the_product_of_the_conversation(server, sample_titles):  # noqa: F811
    uid, title = sample_titles[0]
    first = ask(server, [{"role": "user", "content": f'Tell me about "{title}"'}])
    later = ask(server, [{"role": "user", "content": f'Tell me about "{title}"'},
                         {"role": "assistant", "content": first.choices[0].message.content},
                         {"role": "user", "content": "Who is it for?"}])
    assert later.model_extra["productqa"]["why"] == "follow-up: the product in focus"
    assert later.model_extra["sources"][0]["uid"] == uid
    alone = ask(server, [{"role": "user", "content": "Who is it for?"}])  # no conversation: no product
    assert not alone.model_extra["productqa"]["grounded"]
    closed = ask(server, [{"role": "user", "content": f'Tell me about "{title}"'}], extra_body={"grounded": False})
    assert closed.model_extra["sources"] == [] and closed.model_extra["productqa"]["why"] == "closed book"


def test_ollama_client_lists_and_answers(server, sample_titles):  # noqa: F811
    uid, title = sample_titles[0]
    o = ollama.Client(host=server[0])
    assert [m.model for m in o.list().models] == ["productqa:latest"]
    messages = [{"role": "user", "content": f'Tell me about "{title}"'}]
    whole = o.chat(model="productqa", messages=messages)
    assert whole.message.content == ask(server, messages).choices[0].message.content
    streamed = "".join(part.message.content for part in o.chat(model="productqa", messages=messages, stream=True))
    assert streamed == whole.message.content
    status, raw = post(server, "/api/chat", json.dumps({"model": "productqa", "messages": messages,
                                                        "stream": False}).encode())
    assert status == 200 and raw["sources"][0]["uid"] == uid and raw["done"]


@pytest.mark.parametrize("path, body, status, says", [
    ("/v1/chat/completions", b"{not json", 400, "not JSON"),
    ("/v1/chat/completions", b'{"model": "productqa", "messages": []}', 400, "non-empty list"),
    ("/v1/chat/completions", b'{"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]}', 404, "not served"),
    ("/v1/chat/completions", b'{"messages": [{"role": "user", "content": "hi"}], "temperature": -1}', 400, "temperature"),
    ("/v1/chat/completions", b'{"messages": [{"role": "assistant", "content": "hi"}]}', 400, "last message"),
    ("/v1/chat/completions", json.dumps({"messages": [{"role": "user", "content": "word " * 20000}]}).encode(),
     400, "shorten it"),
    ("/v1/chat/completions", json.dumps({"messages": [{"role": "user", "content": LONG}]}).encode(),
     400, f"the question is {len(LONG):,} characters, "),
    ("/api/chat", b'{"model": "productqa", "messages": [{"role": "user", "content": "hi"}], "options": {"top_p": 5}}',
     400, "top_p"),
])
def test_bad_requests_get_one_sentence_and_the_server_lives_on(server, path, body, status, says):
    code, answer = post(server, path, body)
    message = answer["error"] if path.startswith("/api/") else answer["error"]["message"]
    assert code == status and says in message
    assert post(server, "/v1/chat/completions", b'{"messages": [{"role": "user", "content": "Tell me about Coffee"}]}')[0] == 200


def test_a_catalog_that_cannot_be_read_is_one_sentence_before_serving(chat_export, catalog_path, tmp_path):  # noqa: F811
    broken = shutil.copy(catalog_path, tmp_path / "broken.sqlite")
    with sqlite3.connect(broken) as db:
        db.execute("DROP TABLE records")
    db.close()
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "06_serve.py"), "--model", str(chat_export),
                             "--catalog", str(broken), "--port", "0", "--threads", "1"],
                            capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 2 and result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "broken.sqlite is damaged (no such table: records): rebuild it" in result.stderr


def test_parallel_clients_get_the_answers_they_get_one_by_one(server, sample_titles):  # noqa: F811
    questions = [[{"role": "user", "content": f'Tell me about "{title}"'}] for _, title in sample_titles[:4]]
    alone = [ask(server, q).choices[0].message.content for q in questions]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda q: ask(server, q).choices[0].message.content, questions))
    assert together == alone


def test_a_full_queue_is_503_with_retry_after():
    worker = Worker(size=1)
    release = threading.Event()

    class Blocking:
        cancelled = threading.Event()

        def __call__(self):
            release.wait(10)

    try:
        worker.submit(Blocking())
        deadline = time.time() + 5
        while worker.jobs.qsize() and time.time() < deadline:  # the first is running, none waits
            time.sleep(0.01)
        worker.submit(Blocking())
        with pytest.raises(BadRequest) as full:
            worker.submit(Blocking())
        assert full.value.status == 503 and full.value.retry_after >= 1
    finally:
        release.set()
        worker.stop(lambda: None)
    assert not worker.thread.is_alive() and isinstance(worker.jobs, queue.Queue)


def test_sigterm_stops_it_cleanly(server):
    proc = server[1]
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "stopped" in out and "Traceback" not in out
