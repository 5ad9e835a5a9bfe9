// The WebSocket side of the chat: connect, start or resume, reconnect with backoff.

import { useCallback, useEffect, useReducer, useRef } from "react";

import { initialState, reduce } from "./chat";
import type { ClientFrame, ServerFrame } from "./protocol";

const STORAGE_KEY = "smart-support.conversation";

interface Saved {
  conversation_id: string;
  token: string;
}

function loadSaved(): Saved | null {
  try {
    const raw = localStorage.getItem(STORAGE_KEY);
    const saved = raw ? (JSON.parse(raw) as Saved) : null;
    return saved?.conversation_id && saved?.token ? saved : null;
  } catch {
    return null;
  }
}

function socketUrl(): string {
  const url = new URL("ws/v1", window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.toString();
}

export function useChat() {
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
      resuming.current = saved !== null;
      ws.send(JSON.stringify(saved ? { type: "resume", ...saved } : { type: "start" }));
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
        localStorage.setItem(
          STORAGE_KEY,
          JSON.stringify({ conversation_id: frame.conversation_id, token: frame.token }),
        );
      } else if (frame.type === "error" && resuming.current && frame.code === "unauthorized") {
        // The saved conversation is gone (new database) or not ours: start afresh.
        resuming.current = false;
        localStorage.removeItem(STORAGE_KEY);
        ws.send(JSON.stringify({ type: "start" }));
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

  const restart = useCallback(() => {
    localStorage.removeItem(STORAGE_KEY);
    dispatch({ type: "reset" });
    if (!sendFrame({ type: "start" })) connect();
  }, [sendFrame, connect]);

  return { state, send, decide, restart };
}
