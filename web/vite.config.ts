import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// The built UI is served by the Python app (src/smart_support/server/static, gitignored): the
// customer chat (index.html) at `/`, the operator console (console.html) at `/console`.
export default defineConfig({
  plugins: [react()],
  base: "./",
  build: {
    outDir: "../src/smart_support/server/static",
    emptyOutDir: true,
    sourcemap: false,
    rollupOptions: { input: { chat: "index.html", console: "console.html" } },
  },
  server: {
    proxy: {
      "/api": "http://127.0.0.1:8000",
      "/healthz": "http://127.0.0.1:8000",
      "/ws": { target: "ws://127.0.0.1:8000", ws: true },
    },
  },
  test: { environment: "node", include: ["src/**/*.test.ts", "src/**/*.test.tsx"] },
});
