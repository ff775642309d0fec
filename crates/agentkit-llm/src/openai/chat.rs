//! OpenAI Chat Completions (and OpenAI-compatible servers).
