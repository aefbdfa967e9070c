"""The Anthropic Messages API as a :class:`~skakd.teachers._provider.Provider`.

A request is a forced tool call whose input is the answer object; the
system prompt (and the tool schema before it) is marked as the cached
prefix when prompt caching is on; batches are Message Batches.
"""

import functools
import inspect
import logging

from .._cost import Spent
from .._prompts import Reply, correction
from .._provider import Provider

__all__ = ["AnthropicProvider"]

# What a 400 says when the prompt is longer than the model reads.
_TOO_LONG = ("prompt is too long", "too many tokens")


class AnthropicProvider(Provider):
    """Requests, answers, errors and batches of the ``anthropic`` SDK."""

    name = "AnthropicTeacher"
    env_key = "ANTHROPIC_API_KEY"
    sdk = "anthropic"
    too_long_words = _TOO_LONG

    # -- requests and answers -------------------------------------------------

    def request(self, prompt):
        # A forced tool call: the answer is data in the tool's schema, not prose.
        tool = {"name": prompt.tool, "description": prompt.description,
                "input_schema": prompt.schema}
        return {
            "model": prompt.model,
            "system": prompt.system,
            "messages": [{"role": "user", "content": prompt.user}],
            "tools": [tool],
            "tool_choice": {"type": "tool", "name": prompt.tool},
            "temperature": prompt.temperature,
        }

    def static(self, request):
        return {k: v for k, v in request.items() if k != "messages"}

    def reply(self, message, request):
        content = [block.model_dump(mode="json") for block in message.content]
        tool = request["tool_choice"]["name"]
        calls = [b for b in content if b.get("type") == "tool_use"
                 and b.get("name") == tool]
        refused = message.stop_reason == "refusal"
        truncated = message.stop_reason == "max_tokens"
        if not calls:
            return Reply(problem=f"the answer did not call the {tool} tool",
                         refused=refused, truncated=truncated, echo=content)
        return Reply(payload=calls[0].get("input"), refused=refused,
                     truncated=truncated, echo=content)

    def spent(self, message):
        usage = message.usage
        return Spent(usage.input_tokens, usage.output_tokens,
                     usage.cache_creation_input_tokens or 0,
                     usage.cache_read_input_tokens or 0)

    def correct(self, request, reply, problems):
        tool = request["tool_choice"]["name"]
        assistant = [b for b in map(_echo, reply.echo or []) if b is not None]
        text = correction(problems, f"Call the {tool} tool again")
        calls = [b for b in assistant if b["type"] == "tool_use"]
        if calls:
            answer = [{"type": "tool_result", "tool_use_id": calls[0]["id"],
                       "is_error": True, "content": text}]
            answer += [{"type": "tool_result", "tool_use_id": b["id"],
                        "is_error": True, "content": "Ignored."} for b in calls[1:]]
        else:
            answer = text
        if not assistant:
            assistant = [{"type": "text", "text": "(no answer)"}]
        messages = [*request["messages"], {"role": "assistant", "content": assistant},
                    {"role": "user", "content": answer}]
        return dict(request, messages=messages)

    # -- sizes ------------------------------------------------------------------

    def chars(self, request):
        parts = [request["system"],
                 *(str(m["content"]) for m in request["messages"]),
                 str(request["tools"])]
        return sum(len(part) for part in parts)

    def prefix_chars(self, request):
        return len(request["system"]) + len(str(request["tools"]))

    def n_items(self, request):
        return request["messages"][0]["content"].count('<item id="')

    # -- the SDK ----------------------------------------------------------------

    def client(self, key, settings):
        import anthropic

        options = {} if key is None else {"api_key": key}
        return anthropic.Anthropic(base_url=settings.base_url,
                                   timeout=settings.timeout,
                                   max_retries=settings.max_retries, **options)

    def has_credentials(self, client):
        return any(getattr(client, name, None)
                   for name in ("api_key", "auth_token", "credentials"))

    def create(self, client, settings, request, timeout):
        return client.messages.with_raw_response.create(
            max_tokens=settings.max_tokens, timeout=timeout,
            **_sdk_arguments(request, settings.prompt_caching))

    def count_tokens(self, client, requests):
        import anthropic

        # An estimate must not wait out a backoff: one attempt, then fall back.
        client = client.with_options(max_retries=0)
        try:
            return sum(
                client.messages.count_tokens(
                    **{k: v for k, v in r.items() if k != "temperature"}
                ).input_tokens
                for r in requests
            )
        except anthropic.APIError as exc:
            logging.getLogger("skakd.teachers").info(
                "AnthropicTeacher: token counting unavailable (%s); using "
                "characters / 4", type(exc).__name__)
            return None

    # -- Message Batches --------------------------------------------------------

    def create_batch(self, client, settings, requests):
        batch = client.messages.batches.create(requests=[
            {"custom_id": custom_id, "params": _batch_params(r, settings)}
            for custom_id, r in requests])
        return batch.id

    def batch_progress(self, client, batch_id):
        batch = client.messages.batches.retrieve(batch_id)
        counts = batch.request_counts
        return (batch.processing_status == "ended",
                counts.succeeded + counts.errored, counts.processing)

    def batch_messages(self, client, batch_id):
        return {entry.custom_id: entry.result.message
                for entry in client.messages.batches.results(batch_id)
                if entry.result.type == "succeeded"}

    def recent_batches(self, client, since):
        for batch in client.messages.batches.list(limit=100):
            if batch.created_at.timestamp() < since:
                break  # newest first: the rest are older
            yield batch.id


def _echo(block):
    # The API rejects empty text blocks and tool inputs that are not objects.
    if block.get("type") == "text" and str(block.get("text", "")).strip():
        return {"type": "text", "text": block["text"]}
    if block.get("type") == "tool_use":
        payload = block.get("input")
        return {"type": "tool_use", "id": block["id"], "name": block["name"],
                "input": payload if isinstance(payload, dict) else {}}
    return None


def _batch_params(request, settings):
    """``request`` as the ``params`` of one Message Batches request."""
    params = {"max_tokens": settings.max_tokens, **request}
    if params["temperature"] is None:
        del params["temperature"]
    if settings.prompt_caching:
        params["system"] = _cached_system(request["system"])
    return params


def _cached_system(system):
    # The system prompt as one block marked as the end of the cached prefix.
    return [{"type": "text", "text": system,
             "cache_control": {"type": "ephemeral"}}]


def _sdk_arguments(request, prompt_caching=False):
    """``request`` as ``messages.create`` arguments of the installed SDK.

    With ``prompt_caching``, the system prompt (and the tool schema before
    it) is marked as the cached prefix: requests after the first read it at
    a tenth of the input price. The mark is not part of the cache key: it
    changes the price, not the answer.
    """
    import anthropic

    arguments = dict(request)
    if prompt_caching:
        arguments["system"] = _cached_system(request["system"])
    temperature = arguments.pop("temperature")
    if temperature is None:
        return arguments
    if "temperature" in _create_parameters(anthropic.__version__):
        arguments["temperature"] = temperature
    else:
        arguments["extra_body"] = {"temperature": temperature}
    return arguments


@functools.lru_cache
def _create_parameters(version):
    # Keyed by SDK version; recent SDKs dropped the sampling arguments.
    from anthropic.resources.messages import Messages

    return frozenset(inspect.signature(Messages.create).parameters)

