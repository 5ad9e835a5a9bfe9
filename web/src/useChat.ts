// The WebSocket side of the chat: connect, start or resume, reconnect with backoff.

import { useCallback, useEffect, useReducer, useRef } from "react";

import { initialState, type Rating, reduce } from "./chat";
import type { ClientFrame, ServerFrame } from "./protocol";
import type { Session } from "./session";

// The embedded chat keeps its own: a conversation of the standalone page is not the shop's.
export const STORAGE_KEY = new URLSearchParams(window.location.search).get("embed") === "1"
  ? "smart-support.embed.conversation"
  : "smart-support.conversation";

export interface Saved {
  conversation_id: string;
  token: string;
  /** The session it was started in (`Session.who`): another visitor's is not resumed. */
  who?: string;
}

// A browser that blocks third-party storage throws on any use of `localStorage` in the
// embedded chat (another site's iframe): the conversation is then kept for this page load only.
let memory: string | null = null;

function readStored(): string | null {
  try {
    return window.localStorage.getItem(STORAGE_KEY);
  } catch {
    return memory;
  }
}

function store(value: string | null): void {
  memory = value;
  try {
    if (value === null) window.localStorage.removeItem(STORAGE_KEY);
    else window.localStorage.setItem(STORAGE_KEY, value);
  } catch {
    // kept in `memory`
  }
}

export function loadSaved(): Saved | null {
  try {
    const raw = readStored();
    const saved = raw ? (JSON.parse(raw) as Saved) : null;
    return saved?.conversation_id && saved?.token ? saved : null;
  } catch {
    return null;
  }
}

export function forgetSaved(): void {
  store(null);
}

function socketUrl(): string {
  const url = new URL("ws/v1", window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.toString();
}

/**
 * The chat of one session: resumes the saved conversation when it was this session's (or when
 * `resumeAny`: the page does not know who the visitor is yet), else starts one with the
 * session's identity. `onResumeLost` is called instead of starting afresh when a resume fails.
 */
export function useChat(session: Session, options: { resumeAny?: boolean; onResumeLost?: () => void } = {}) {
  const { resumeAny = false, onResumeLost } = options;
  const startFrame: ClientFrame = session.identity ? { type: "start", identity: session.identity } : { type: "start" };
  const [state, dispatch] = useReducer(reduce, initialState);
  const socket = useRef<WebSocket | null>(null);
  const attempts = useRef(0);
  const resuming = useRef(false);
  const stopped = useRef(false);

  const sendFrame = useCallback((frame: ClientFrame) => {
    const ws = socket.current;
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }, []);

  const connect = useCallback(() => {
    dispatch({ type: "connecting" });
    const ws = new WebSocket(socketUrl());
    socket.current = ws;
    ws.onopen = () => {
      attempts.current = 0;
      const saved = loadSaved();
      const mine = saved !== null && (resumeAny || (saved.who ?? "anonymous") === session.who);
      resuming.current = mine;
      ws.send(
        JSON.stringify(
          saved && mine ? { type: "resume", conversation_id: saved.conversation_id, token: saved.token } : startFrame,
        ),
      );
    };
    ws.onmessage = (event: MessageEvent<string>) => {
      let frame: ServerFrame;
      try {
        frame = JSON.parse(event.data) as ServerFrame;
      } catch {
        return;
      }
      if (frame.type === "conversation") {
        resuming.current = false;
        const who = frame.resumed ? (loadSaved()?.who ?? session.who) : session.who;
        store(JSON.stringify({ conversation_id: frame.conversation_id, token: frame.token, who }));
      } else if (frame.type === "error" && resuming.current && frame.code === "unauthorized") {
        // The saved conversation is gone (new database) or not ours: start afresh.
        resuming.current = false;
        forgetSaved();
        if (onResumeLost) {
          onResumeLost();
          return;
        }
        ws.send(JSON.stringify(startFrame));
        return;
      }
      dispatch({ type: "frame", frame });
    };
    ws.onclose = () => {
      if (socket.current !== ws) return;
      socket.current = null;
      dispatch({ type: "disconnected" });
      if (stopped.current) return;
      const delay = Math.min(10_000, 500 * 2 ** attempts.current++);
      window.setTimeout(connect, delay);
    };
    // The session is fixed for this hook's life: the page remounts the chat for another one.
  }, []);

  useEffect(() => {
    stopped.current = false;
    connect();
    return () => {
      stopped.current = true;
      socket.current?.close();
      socket.current = null;
    };
  }, [connect]);

  const send = useCallback(
    (text: string) => {
      if (sendFrame({ type: "message", text })) dispatch({ type: "sent", text });
    },
    [sendFrame],
  );

  const decide = useCallback(
    (approvalId: string, decision: "approve" | "reject") => {
      if (sendFrame({ type: "decision", approval_id: approvalId, decision })) {
        dispatch({ type: "deciding", approvalId });
      }
    },
    [sendFrame],
  );

  // The button shows pressed once the server's `feedback_recorded` says it is stored.
  const rate = useCallback(
    (replyId: string, rating: Rating) => {
      sendFrame({ type: "feedback", reply_id: replyId, rating });
    },
    [sendFrame],
  );

  const restart = useCallback(() => {
    forgetSaved();
    dispatch({ type: "reset" });
    if (!sendFrame(startFrame)) connect();
  }, [sendFrame, connect]);

  return { state, send, decide, rate, restart };
}
