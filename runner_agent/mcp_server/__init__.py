"""The MCP server: the runners API and this host's runner as tools for AI agents.

:mod:`~runner_agent.mcp_server.server` builds it on the official MCP SDK,
an optional extra (``pip install 'runner-agent[mcp]'``). Only the ``mcp``
command imports this subpackage, so the daemon never loads the SDK.
"""
