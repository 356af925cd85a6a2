"""``pathweaver chat``: talk to an agent in the terminal, seeing the node and variables."""

from __future__ import annotations

import asyncio
import json
import secrets

import typer

from pathweaver.config import Settings
from pathweaver.conversations import Conversations, TurnResult
from pathweaver.engine.events import ReplyDelta, TransitionChosen, VariableSet
from pathweaver.errors import PathweaverError
from pathweaver.llm.base import Message
from pathweaver.llm.factory import build_model
from pathweaver.llm.registry import Models
from pathweaver.store.store import Store


async def run_chat(store: Store, settings: Settings, project_id: str, session_id: str | None) -> None:
    models = Models.from_settings(settings, build_model(settings))
    conversations = Conversations(store, models, settings)
    session_id = session_id or f"cli-{secrets.token_hex(6)}"
    try:
        session = await conversations.store.sessions.get(project_id, session_id)
        if session is None:
            session, _ = await conversations.create_session(
                project_id, session_id, variables={}, provider="cli"
            )
        typer.secho(f"session {session_id} at node {session.current_node_id}; Ctrl-D to leave", dim=True)
        for message in await conversations.history(session):
            if message.role in ("user", "assistant") and message.content:
                typer.echo(f"{'you' if message.role == 'user' else 'agent'}> {message.content}")
        while True:
            try:
                text = await asyncio.to_thread(input, "you> ")
            except EOFError:
                typer.echo("")
                return
            if not text.strip():
                continue
            typer.echo("agent> ", nl=False)
            try:
                async for event in conversations.chat(
                    project_id, session_id, [Message(role="user", content=text)], provider="cli"
                ):
                    match event:
                        case ReplyDelta(text=fragment):
                            typer.echo(fragment, nl=False)
                        case TransitionChosen(from_node=src, to_node=dst):
                            typer.secho(f"[{src} -> {dst}] ", dim=True, nl=False)
                        case VariableSet():
                            pass
                        case TurnResult(session=after):
                            typer.echo("")
                            extracted = json.dumps(after.extracted, ensure_ascii=False)
                            typer.secho(f"  node: {after.current_node_id}  variables: {extracted}", dim=True)
                            if after.ended:
                                typer.secho("  (the session has ended)", dim=True)
                                return
                        case _:
                            pass
            except PathweaverError as exc:
                typer.secho(f"\nerror: {exc.message}", fg="red")
    finally:
        await models.aclose()
        await models.default.aclose()
