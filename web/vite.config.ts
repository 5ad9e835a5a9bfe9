import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// The built UI is served by the Python app at `/` (src/smart_support/server/static, gitignored).
export default defineConfig({
  plugins: [react()],
  base: "./",
  build: {
    outDir: "../src/smart_support/server/static",
    emptyOutDir: true,
    sourcemap: false,
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
