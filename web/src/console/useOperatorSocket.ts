import { useEffect, useRef, useState } from "react";

import type { OperatorServerFrame } from "../protocol";
import { OperatorSocket } from "./operatorSocket";

/** An operator socket for as long as the page is open; `connected` once the token is taken. */
export function useOperatorSocket(
  token: string,
  onFrame: (frame: OperatorServerFrame) => void,
  onReady: () => void = () => undefined,
): { socket: OperatorSocket | null; connected: boolean } {
  const frames = useRef(onFrame);
  frames.current = onFrame;
  const ready = useRef(onReady);
  ready.current = onReady;
  const [socket, setSocket] = useState<OperatorSocket | null>(null);
  const [connected, setConnected] = useState(false);
  useEffect(() => {
    const next = new OperatorSocket(
      token,
      (frame) => frames.current(frame),
      () => ready.current(),
      setConnected,
    );
    setSocket(next);
    return () => {
      next.close();
      setConnected(false);
    };
  }, [token]);
  return { socket, connected };
}
