// The operator socket (`/ws/v1/operator`) for the import wizard's live progress. Browsers cannot
// set headers on a WebSocket, so the token goes in the first frame (`auth`).

import type { ImportProgressFrame, OperatorAuthFrame, OperatorServerFrame } from "../protocol";

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
