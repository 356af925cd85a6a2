/// <reference types="vitest/config" />
import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The studio is served by Pathweaver at /studio (src/pathweaver/api/studio.py), from the
// package's studio_dist folder. `npm run dev` proxies the API to a local `pathweaver serve`.
const outDir = fileURLToPath(new URL("../src/pathweaver/studio_dist", import.meta.url));

export default defineConfig({
  base: "/studio/",
  plugins: [react()],
  build: {
    outDir,
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 1000,
  },
  server: {
    port: 5173,
    proxy: { "/v1": "http://127.0.0.1:8100" },
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
