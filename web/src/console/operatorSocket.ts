// The operator socket (`/ws/v1/operator`): the import wizard's live progress, live approvals and
// the conversations a person takes over. Browsers cannot
// set headers on a WebSocket, so the token goes in the first frame (`auth`).

import type {
  ImportProgressFrame,
  OperatorAuthFrame,
  OperatorClientFrame,
  OperatorServerFrame,
} from "../protocol";

export function operatorSocketUrl(location: { protocol: string; host: string }): string {
  return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/ws/v1/operator`;
}

/** Every `import_progress` (and the jobs of `operator_ready`) to `onProgress`; returns a closer. */
export function followImports(token: string, onProgress: (frame: ImportProgressFrame) => void): () => void {
  let socket: WebSocket | null = null;
  try {
    socket = new WebSocket(operatorSocketUrl(window.location));
  } catch {
    return () => undefined; // the wizard also reads the job over REST
  }
  const auth: OperatorAuthFrame = { type: "auth", token };
  socket.onopen = () => socket?.send(JSON.stringify(auth));
  socket.onmessage = (message) => {
    let frame: OperatorServerFrame;
    try {
      frame = JSON.parse(String(message.data)) as OperatorServerFrame;
    } catch {
      return;
    }
    if (frame.type === "import_progress") onProgress(frame);
    else if (frame.type === "operator_ready") frame.jobs.forEach(onProgress);
  };
  return () => socket?.close();
}

export type OperatorFrameListener = (frame: OperatorServerFrame) => void;

/**
 * A lasting operator socket for a page: authenticates with the first frame, hands every server
 * frame to `onFrame`, reconnects after a drop (1 s, then up to 10 s apart) and calls `onReady`
 * on every `operator_ready` (the page reads its list again: frames may have been missed).
 */
export class OperatorSocket {
  private socket: WebSocket | null = null;
  private closed = false;
  private retryMs = 1000;
  private timer: ReturnType<typeof setTimeout> | undefined;
  connected = false;

  constructor(
    private readonly token: string,
    private readonly onFrame: OperatorFrameListener,
    private readonly onReady: () => void = () => undefined,
    private readonly onState: (connected: boolean) => void = () => undefined,
  ) {
    this.open();
  }

  private open(): void {
    if (this.closed) return;
    let socket: WebSocket;
    try {
      socket = new WebSocket(operatorSocketUrl(window.location));
    } catch {
      this.later();
      return;
    }
    this.socket = socket;
    const auth: OperatorAuthFrame = { type: "auth", token: this.token };
    socket.onopen = () => socket.send(JSON.stringify(auth));
    socket.onmessage = (message) => {
      let frame: OperatorServerFrame;
      try {
        frame = JSON.parse(String(message.data)) as OperatorServerFrame;
      } catch {
        return;
      }
      if (frame.type === "operator_ready") {
        this.retryMs = 1000;
        this.connected = true;
        this.onState(true);
        this.onReady();
      }
      this.onFrame(frame);
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.connected) this.onState(false);
      this.connected = false;
      this.later();
    };
  }

  private later(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => this.open(), this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, 10_000);
  }

  /** Sends a client frame; false when the socket is not connected (the page says so). */
  send(frame: OperatorClientFrame): boolean {
    if (!this.socket || !this.connected || this.socket.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.socket?.close();
    this.socket = null;
  }
}
