/**
 * A session's messages as chat lines, each assistant reply tied to the turn that made it.
 *
 * Every turn answers the user or tool messages sent since the last reply, so the n-th
 * assistant message that follows such a message was written by turn n. An assistant
 * message before any user message is the agent's first message (no turn).
 */
import type { ChatMessage } from "../api/types";

export interface ChatLine {
  key: string;
  role: "user" | "assistant" | "tool";
  text: string;
  /** The turn that wrote this reply (assistant lines only). */
  turnSeq: number | null;
  toolCalls: string[];
}

export function transcript(messages: ChatMessage[]): ChatLine[] {
  const lines: ChatLine[] = [];
  let turn = 0;
  let awaitingReply = false;
  messages.forEach((message, index) => {
    if (message.role === "system") return;
    let turnSeq: number | null = null;
    if (message.role === "assistant") {
      if (awaitingReply) {
        turn += 1;
        turnSeq = turn;
      }
      awaitingReply = false;
    } else {
      awaitingReply = true;
    }
    lines.push({
      key: `${index}`,
      role: message.role,
      text: message.content ?? "",
      turnSeq,
      toolCalls: (message.tool_calls ?? []).map((call) => `${call.function.name}(${call.function.arguments})`),
    });
  });
  return lines;
}

/** The user's messages, in order: what "replay" sends again. */
export function userMessages(messages: ChatMessage[]): string[] {
  return messages.filter((m) => m.role === "user" && m.content).map((m) => m.content as string);
}
