"""Server-side tools: tool configs, REST and MCP runners, built-ins, and the outbound HTTP client."""
