//! agentkit
