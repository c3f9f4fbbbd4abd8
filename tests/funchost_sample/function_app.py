"""A tiny FunctionApp used only by the funchost tests: one function per behaviour under test."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
bp = func.Blueprint()

# What the functions saw, read by the tests (the host loads this module in-process).
timer_calls: list[func.TimerRequest] = []
events: list[object] = []
invocations: list[str] = []
_lock = threading.Lock()


def _record(name: str) -> None:
    with _lock:
        invocations.append(name)


@app.route(route="hello", auth_level=func.AuthLevel.ANONYMOUS)
def hello(req: func.HttpRequest) -> func.HttpResponse:
    _record("hello")
    logging.info("hello called: %s", req.url)  # an app that logs the URL it was called with
    body = {
        "method": req.method,
        "url": req.url,
        "params": dict(req.params),
        "route_params": dict(req.route_params),
        "body": req.get_body().decode(),
        "thread": threading.current_thread().name,
        "greeting": os.environ.get("SAMPLE_GREETING"),
        "header": req.headers.get("x-sample"),
    }
    return func.HttpResponse(json.dumps(body), mimetype="application/json", headers={"x-reply": "yes"})


@app.route(route="sites/{site}/items/{item:int?}", methods=["GET", "PUT"])
@app.queue_output(arg_name="msg", queue_name="sample-out", connection="AzureWebJobsStorage")
def site(req: func.HttpRequest, msg: func.Out[str]) -> func.HttpResponse:
    _record("site")
    msg.set(json.dumps({"site": req.route_params["site"]}))
    return func.HttpResponse(json.dumps(dict(req.route_params)), status_code=201, mimetype="application/json")


@app.route(route="admin-only", auth_level=func.AuthLevel.ADMIN, methods=["POST"])
def admin_only(req: func.HttpRequest) -> str:
    _record("admin_only")
    return "admin ok"


@app.route(route="slow-async", auth_level=func.AuthLevel.ANONYMOUS)
async def slow_async(req: func.HttpRequest) -> func.HttpResponse:
    _record("slow_async")
    await asyncio.sleep(0.01)
    return func.HttpResponse("async ok", headers={"x-thread": threading.current_thread().name})


@app.route(route="boom", auth_level=func.AuthLevel.ANONYMOUS)
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("boom")


@app.timer_trigger(schedule="%SAMPLE_SCHEDULE%", arg_name="timer", run_on_startup=False)
def tick(timer: func.TimerRequest) -> None:
    with _lock:
        timer_calls.append(timer)


@app.event_grid_trigger(arg_name="event")
def on_event(event: func.EventGridEvent, context: func.Context) -> None:
    data = event.get_json()
    if isinstance(data, dict) and data.get("fail"):
        raise ValueError("asked to fail")
    with _lock:
        events.append(event)
    logging.info("event %s handled by %s", event.id, context.function_name)


@bp.route(route="bp/{name?}", auth_level=func.AuthLevel.ANONYMOUS, methods=["GET"])
def from_blueprint(req: func.HttpRequest) -> func.HttpResponse:
    _record("from_blueprint")
    return func.HttpResponse(f"bp {req.route_params.get('name', 'nobody')}")


app.register_functions(bp)


# --- Storage queues (registered only when SAMPLE_QUEUES is set: tests/test_funchost_queue.py) -----

queue_messages: list[dict[str, object]] = []
timer_sites: list[str] = []

if os.environ.get("SAMPLE_QUEUES"):

    @app.route(route="enqueue", auth_level=func.AuthLevel.ANONYMOUS, methods=["POST"])
    @app.queue_output(arg_name="msg", queue_name="%SAMPLE_OUT_QUEUE%", connection="AzureWebJobsStorage")
    def enqueue_sites(req: func.HttpRequest, msg: func.Out[list[str]]) -> func.HttpResponse:
        body = req.get_json()
        msg.set([str(s) for s in body["sites"]])
        if body.get("fail"):
            raise RuntimeError("asked to fail after setting the output")
        return func.HttpResponse(status_code=202)

    @app.timer_trigger(schedule="0 0 0 1 1 *", arg_name="timer", run_on_startup=False)
    @app.queue_output(arg_name="msg", queue_name="%SAMPLE_WORK_QUEUE%", connection="AzureWebJobsStorage")
    def enqueue_timer(timer: func.TimerRequest, msg: func.Out[list[str]]) -> None:
        msg.set(list(timer_sites))

    @app.queue_trigger(arg_name="msg", queue_name="%SAMPLE_WORK_QUEUE%", connection="AzureWebJobsStorage")
    def work(msg: func.QueueMessage) -> None:
        body = msg.get_body().decode()
        with _lock:
            queue_messages.append(
                {
                    "id": msg.id,
                    "body": body,
                    "dequeue_count": msg.dequeue_count,
                    "pop_receipt": msg.pop_receipt,
                    "insertion_time": msg.insertion_time,
                    "expiration_time": msg.expiration_time,
                    "next_visible_time": msg.time_next_visible,
                    "thread": threading.current_thread().name,
                }
            )
        if body.startswith("fail-always") or (body.startswith("fail-once") and msg.dequeue_count == 1):
            raise ValueError(f"asked to fail: {body}")
