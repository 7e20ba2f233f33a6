"""One answer on one page: the first generation and, when the answer
cannot be used, one follow-up typed into the same chat (speak/outcome.py
decides). Shared by the whole answer (chat.py) and the stream (chat_stream.py).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence

from instance_runner import limits
from instance_runner.images.decode import Image
from instance_runner.instance import ApiError, Instance
from instance_runner.sites import settings
from instance_runner.sites.adapter import SiteAdapter
from instance_runner.sites.decoders import Event
from instance_runner.sites.errors import SiteProblem
from instance_runner.speak import outcome, toolcalls
from instance_runner.speak.types import Call, FunctionCall, ToolCall
from instance_runner.types import ChatRequest, Usage

Out = tuple[str, str]  # ("text" | "reasoning", piece)


class Turn:
    """One answer on one page: the first generation and, when the answer
    cannot be used, one follow-up in the same chat."""

    def __init__(
        self,
        instance: Instance,
        adapter: SiteAdapter,
        req: ChatRequest,
        model_id: str,
        wanted: settings.GenSettings,
        plan: outcome.Plan,
        prompt: str,
        images: Sequence[Image] = (),
    ) -> None:
        self.instance, self.adapter, self.req = instance, adapter, req
        self.model_id, self.wanted, self.plan, self.prompt = model_id, wanted, plan, prompt
        stop = wanted.stop or None
        self.limiter = limits.Limiter(stop, wanted.max_tokens)
        self.answered: list[str] = []  # every answer's text, for the usage estimate
        self.deltas: AsyncIterator[Event] = adapter.generate(
            prompt, model_id, wanted, images, keep=plan.checked
        )
        self.outs = outputs(self.deltas, self.limiter)

    async def next(self) -> Out | None:
        try:
            return await anext(self.outs, None)
        except SiteProblem as exc:
            raise await self.instance.failed_with(exc, self.model_id) from None

    async def close(self) -> None:
        await self.outs.aclose()  # type: ignore[attr-defined]
        await self.deltas.aclose()  # type: ignore[attr-defined]

    def end(self) -> None:
        """No follow-up now: the page may open its next chat."""
        if self.plan.checked:
            self.adapter.end_chat()

    async def follow_up(self, fix: str) -> tuple[str, str]:
        """Type `fix` into the same chat; (its answer, its reasoning), whole."""
        await self.close()
        self.prompt += "\n\n" + fix  # counted in the usage: the page read it too
        self.limiter = limits.Limiter(self.wanted.stop or None, self.wanted.max_tokens)
        self.deltas = self.adapter.generate(fix, self.model_id, None, fresh=False, keep=True)
        self.outs = outputs(self.deltas, self.limiter)
        parts: list[Out] = []
        while (out := await self.next()) is not None:
            parts.append(out)
        return joined(parts, "text"), joined(parts, "reasoning")

    def usage(self) -> Usage:
        p = limits.estimate_tokens(self.prompt)
        c = sum(limits.estimate_tokens(a) for a in self.answered)
        return Usage(p, c, p + c)


def unusable(result: outcome.Outcome) -> ApiError:
    """The error once the corrective turn did not help: what the model wrote."""
    what = "tool call" if result.kind == "tool_call" else "JSON answer"
    wrote = result.wrote if len(result.wrote) <= 4000 else result.wrote[:4000] + "..."
    return ApiError(
        422,
        f"the model's {what} could not be used, even after one correction: "
        f"{result.problem}. The model wrote: {wrote}",
        "invalid_request_error",
        "invalid_tool_call" if result.kind == "tool_call" else "invalid_json_output",
    )


def tool_call(call: Call) -> ToolCall:
    args = toolcalls.arguments_json(call)
    return ToolCall(FunctionCall(call.name, args), id=f"call_{uuid.uuid4().hex[:24]}")


def joined(parts: list[Out], kind: str) -> str:
    return "".join(p for k, p in parts if k == kind)


async def outputs(deltas: AsyncIterator[Event], limiter: limits.Limiter) -> AsyncIterator[Out]:
    """The answer after stop sequences and max tokens; thinking passes as it is."""
    async for event in deltas:
        if event.kind == "reasoning":
            yield ("reasoning", event.text)
            continue
        out = limiter.feed(event.text)
        if out:
            yield ("text", out)
        if limiter.finish_reason:
            return
    tail = limiter.flush()
    if tail:
        yield ("text", tail)
