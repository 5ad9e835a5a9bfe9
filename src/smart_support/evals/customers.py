"""The simulated customer: scripted lines, or an LLM playing tau2's user simulator.

A customer sees the agent's last message (or the approval it asks for) and answers with a line,
or None to end the conversation. While an approval waits, its answer decides it: `yes`
approves, a refusal (`no`, "leave it"...) rejects, anything else is sent as a message.
"""

from __future__ import annotations

import re
from typing import Protocol

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from smart_support.runtime.engine import declines

#: tau2's user simulator tokens (`user_simulator_base.py`).
STOP = "###STOP###"
TRANSFER = "###TRANSFER###"
OUT_OF_SCOPE = "###OUT-OF-SCOPE###"
STOP_TOKENS = (STOP, TRANSFER, OUT_OF_SCOPE)

#: tau2's `data/tau2/user_simulator/simulation_guidelines.md` (MIT, Sierra Research).
GUIDELINES = """# User Simulation Guidelines
You are playing the role of a customer contacting a customer service representative.
Your goal is to simulate realistic customer interactions while following specific scenario instructions.

## Core Principles
- Generate one message at a time, maintaining natural conversation flow.
- Strictly follow the scenario instructions you have received.
- Never make up or hallucinate information not provided in the scenario instructions. Information that is not provided in the scenario instructions should be considered unknown or unavailable.
- Avoid repeating the exact instructions verbatim. Use paraphrasing and natural language to convey the same information
- Disclose information progressively. Wait for the agent to ask for specific information before providing it.

## Task Completion
- The goal is to continue the conversation until the task is complete.
- If the instruction goal is satisified, generate the '###STOP###' token to end the conversation.
- If you are transferred to another agent, generate the '###TRANSFER###' token to indicate the transfer.
- If you find yourself in a situation in which the scenario does not provide enough information for you to continue the conversation, generate the '###OUT-OF-SCOPE###' token to end the conversation.
Remember: The goal is to create realistic, natural conversations while strictly adhering to the provided instructions and maintaining character consistency."""  # noqa: E501

_YES = re.compile(r"^\W*(yes|yeah|yep|sure|ok|okay|confirm|approve|go ahead|please do)\b", re.I)


def approves(line: str) -> bool | None:
    """The customer's wish about a waiting approval: True, False, or None (neither)."""
    if _YES.match(line):
        return True
    if declines(line) or re.match(r"^\W*no\b", line, re.I):
        return False
    return None


class Customer(Protocol):
    stopped: bool
    """Whether the customer ended the conversation themselves (a stop token, the script's end)."""

    async def reply(self, agent_message: str) -> str | None: ...


class ScriptedCustomer:
    """Says its lines in order, whatever the agent says; ends after the last."""

    def __init__(self, lines: list[str]) -> None:
        self._lines = list(lines)
        self.stopped = False

    async def reply(self, agent_message: str) -> str | None:
        if not self._lines:
            self.stopped = True
            return None
        return self._lines.pop(0)


class LlmCustomer:
    """tau2's user simulator: the model gets tau2's guidelines and the task's instructions, sees
    the agent's messages as the user's and writes the customer's as its own; a stop token ends
    the conversation."""

    def __init__(self, model: BaseChatModel, instructions: str) -> None:
        self.model = model
        self.messages: list[BaseMessage] = [
            SystemMessage(f"{GUIDELINES}\n\n<scenario>\n{instructions}\n</scenario>")
        ]
        self.stopped = False
        self.stop_token: str | None = None

    async def reply(self, agent_message: str) -> str | None:
        self.messages.append(HumanMessage(agent_message))
        answer = await self.model.ainvoke(self.messages, config={"tags": ["eval_customer"]})
        text = str(answer.text) if isinstance(answer, AIMessage) else str(answer.content)
        self.messages.append(AIMessage(text))
        for token in STOP_TOKENS:
            if token in text:
                self.stopped, self.stop_token = True, token
                text = text.replace(token, "").strip()
                return None
        return text.strip() or None
